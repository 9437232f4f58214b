import { InvalidArgumentError } from "./errors";

/** Default and maximum page sizes of list calls. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** A page request as the domain sees it. */
export interface PageRequest {
  /** 0 means the default. */
  pageSize: number;
  /** Opaque token from a previous page; "" for the first page. */
  pageToken: string;
}

/** One page of results. */
export interface Page<T> {
  items: T[];
  /** "" when there are no more pages. */
  nextPageToken: string;
}

/** Clamps a requested page size into [1, MAX_PAGE_SIZE]; 0 or negative means the default. */
export function effectivePageSize(requested: number): number {
  if (!Number.isFinite(requested) || requested <= 0) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.floor(requested), MAX_PAGE_SIZE);
}

/** Encodes a page cursor (a JSON value) as an opaque base64url token. */
export function encodePageToken(cursor: unknown): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

/**
 * Decodes a token made by {@link encodePageToken}, checked by `guard`.
 * Throws InvalidArgumentError("invalid page token") for anything else.
 */
export function decodePageToken<T>(token: string, guard: (v: unknown) => v is T): T {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (guard(value)) return value;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError("invalid page token", "page_token");
}

/** Guard of the cursor of offset-paged lists (`{ offset }`). */
export function isOffsetCursor(v: unknown): v is { offset: number } {
  return typeof v === "object" && v !== null && Number.isInteger((v as { offset?: unknown }).offset) && (v as { offset: number }).offset >= 0;
}
