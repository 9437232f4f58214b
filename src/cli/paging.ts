import type { ServerStream } from "../../clients/ts";
import { UsageError } from "./context";

/** One page as the list RPCs return it, reduced to what paging needs. */
export interface FetchedPage<T> {
  items: T[];
  nextPageToken: string;
}

/**
 * Fetches a page starting at `pageToken`, then further pages while `all` is true and more exist.
 * Returns the items and the token of the next unfetched page ("" when everything was fetched).
 */
export async function fetchPages<T>(
  fetch: (pageToken: string) => Promise<FetchedPage<T>>,
  options: { pageToken?: string; all: boolean },
): Promise<FetchedPage<T>> {
  const items: T[] = [];
  let pageToken = options.pageToken ?? "";
  do {
    const page = await fetch(pageToken);
    items.push(...page.items);
    pageToken = page.nextPageToken;
  } while (options.all && pageToken !== "");
  return { items, nextPageToken: pageToken };
}

/** Checks a --limit value. Throws UsageError (exit 2) unless it is a positive integer. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive integer");
  return limit;
}

/** Prints every message of a server stream until it ends or the user presses Ctrl-C (or sends SIGTERM). */
export async function followStream<T>(stream: ServerStream<T>, print: (message: T) => void): Promise<void> {
  const stop = (): void => stream.cancel();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for await (const message of stream) print(message);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
