import { randomBytes } from "node:crypto";
import { open, readFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";

/** File name of the marker, in the state dir next to `db/`. */
export const MARKER_FILE = "store.json";

/**
 * The store marker, `<home>/store.json`: proof that a store was created here. It lives outside `db/`
 * so that a missing `db/`, a missing `CURRENT` or a replaced database can be told apart from a first
 * start. Written atomically (temp file, fsync, rename, fsync of the directory).
 */
export interface StoreMarker {
  /** Marker format. */
  format: 1;
  /** Random id of this store (a new one after `db reset`). */
  storeId: string;
  /** The gateway id of the identity inside the store; "" until the daemon has created it. */
  gatewayId: string;
  createdAtMs: number;
  /** Bumped by every reset, repair and restore. */
  generation: number;
  /** Set by `db reset`: the next start creates an empty store here (a missing database is expected). */
  pendingCreate?: true;
  /** Set when pairgate found the store damaged; cleared only by repair, restore or reset. */
  damaged?: { detectedAtMs: number; problem: string };
  /**
   * Set by `pairgate store migrate` once this store was copied to another (PostgreSQL): this copy is
   * stale from then on, so the daemon refuses to start on it; `store migrate --to level` replaces it.
   */
  migratedTo?: { target: string; atMs: number };
  /** Set while `pairgate store migrate --to level` copies into this store; the daemon refuses it until done. */
  migrationInProgress?: { from: string; startedAtMs: number };
  /** The last repair or restore, for the operator's information. */
  lastRecovery?: { kind: "repair" | "restore" | "reset" | "migrate"; atMs: number; detail: string };
}

/** Thrown when `store.json` exists but cannot be read as a marker. */
export class MarkerUnreadableError extends Error {
  constructor(readonly path: string, reason: string, options?: { cause?: unknown }) {
    super(`${path} is unreadable (${reason})`, options);
    this.name = "MarkerUnreadableError";
  }
}

/** The marker path of the state dir `home`. */
export function markerPath(home: string): string {
  return join(home, MARKER_FILE);
}

/** Reads the marker of `home`: undefined when there is none. Throws MarkerUnreadableError when it is damaged. */
export async function readMarker(home: string): Promise<StoreMarker | undefined> {
  const path = markerPath(home);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new MarkerUnreadableError(path, (err as Error).message, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MarkerUnreadableError(path, "not valid JSON", { cause: err });
  }
  const m = value as Partial<StoreMarker>;
  if (m.format !== 1 || typeof m.storeId !== "string" || typeof m.gatewayId !== "string" || typeof m.generation !== "number") {
    throw new MarkerUnreadableError(path, "unknown format");
  }
  return m as StoreMarker;
}

/** A marker for a store created now. */
export function newMarker(nowMs: number, generation = 1): StoreMarker {
  return { format: 1, storeId: randomBytes(16).toString("hex"), gatewayId: "", createdAtMs: nowMs, generation };
}

/** Writes the marker of `home` atomically and durably (mode 0600). */
export async function writeMarker(home: string, marker: StoreMarker): Promise<void> {
  await writeFileDurably(markerPath(home), JSON.stringify(marker, null, 2) + "\n");
}

/**
 * Writes `path` so that after a crash it holds either the old or the new content: a temp file in the
 * same directory, fsync, rename over `path`, fsync of the directory. Mode 0600.
 */
export async function writeFileDurably(path: string, content: string | Buffer): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** fsyncs a directory so a rename or create inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
