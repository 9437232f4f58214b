import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { LevelStore, type LevelStoreOptions, StoreLockedError } from "./level-store";
import { recoveryProblems } from "./leveldb-log";
import { MarkerUnreadableError, markerPath, newMarker, readMarker, type StoreMarker, writeMarker } from "./store-marker";
import { checkTable, liveTables } from "./table-check";

/** What made pairgate refuse a store. */
export type StoreDamage =
  | "db_missing"
  | "current_missing"
  | "open_failed"
  | "log_recovery"
  | "table_corrupt"
  | "marked_damaged"
  | "marker_unreadable"
  | "identity_mismatch";

/** The next steps offered for every damaged store. */
export const RECOVERY_STEPS =
  "Next: restore a backup with `pairgate restore <file>`, or salvage what is readable with `pairgate db repair`, " +
  "or start over with an empty store with `pairgate db reset --yes` (every approval and paired node is lost).";

/**
 * Thrown by {@link openStateStore} when the store must not be served: it is missing although a store
 * was created here, LevelDB refuses it, LevelDB silently dropped records while recovering, or a table
 * file fails its checksums. The message names the path, the cause and the next command.
 */
export class StoreDamagedError extends Error {
  constructor(
    readonly damage: StoreDamage,
    readonly path: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`the store at ${path} is damaged: ${problem}.\npairgate will not start on it, because it could serve a store that forgot approvals or revocations.\n${RECOVERY_STEPS}`, options);
    this.name = "StoreDamagedError";
  }
}

/** Options of {@link openStateStore}. */
export interface StateStoreOptions extends LevelStoreOptions {
  /** Clock for the marker. @default Date.now */
  now?: () => number;
}

/** An opened, checked store and its marker. */
export interface OpenedStateStore {
  store: LevelStore;
  marker: StoreMarker;
  /** True when this open created the store (first start, or after `db reset`). */
  created: boolean;
  /** How long the table checksum pass took, ms. */
  tableCheckMs: number;
}

/** The database directory of the state dir `home`. */
export function dbPath(home: string): string {
  return join(home, "db");
}

/**
 * Opens the store of the state dir `home` and checks that it is the store that was created there,
 * intact. A first start (no marker, no database) creates both. Throws StoreDamagedError (after
 * recording the damage in the marker, so later starts refuse too), or StoreLockedError.
 */
export async function openStateStore(home: string, options: StateStoreOptions = {}): Promise<OpenedStateStore> {
  const now = options.now ?? Date.now;
  const location = dbPath(home);
  let marker: StoreMarker | undefined;
  try {
    marker = await readMarker(home);
  } catch (err) {
    if (err instanceof MarkerUnreadableError) throw new StoreDamagedError("marker_unreadable", markerPath(home), err.message, { cause: err });
    throw err;
  }
  const hasCurrent = existsSync(join(location, "CURRENT"));
  let created = false;
  if (marker === undefined) {
    // No marker: a first start, or a store from before markers existed (it has CURRENT).
    const leftovers = existsSync(location) ? readdirSync(location).filter((f) => /\.(ldb|sst|log)$|^MANIFEST-/.test(f)) : [];
    if (!hasCurrent && leftovers.length > 0) {
      throw new StoreDamagedError("current_missing", join(location, "CURRENT"), `CURRENT is missing but ${leftovers.length} database files remain (${leftovers.slice(0, 3).join(", ")}…)`);
    }
    created = !hasCurrent;
    marker = newMarker(now());
  } else {
    if (marker.damaged !== undefined) {
      throw new StoreDamagedError("marked_damaged", location, `${marker.damaged.problem} (found ${new Date(marker.damaged.detectedAtMs).toISOString()})`);
    }
    if (marker.pendingCreate === true && !hasCurrent) {
      created = true;
      marker = { ...marker };
      delete marker.pendingCreate;
    }
    const since = `store.json says a store was created here on ${new Date(marker.createdAtMs).toISOString()}`;
    if (!created && !existsSync(location)) throw new StoreDamagedError("db_missing", location, `the database directory is missing (${since})`);
    if (!created && !hasCurrent) throw new StoreDamagedError("current_missing", join(location, "CURRENT"), `CURRENT is missing (${since})`);
  }

  let store: LevelStore;
  try {
    store = await LevelStore.open(location, { ...options, createIfMissing: created });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    if (err instanceof StoreLockedError || cause === undefined) throw err;
    throw new StoreDamagedError("open_failed", location, `LevelDB refuses to open it: ${cause}`, { cause: err });
  }

  const refuse = async (damage: StoreDamage, problem: string): Promise<never> => {
    await store.close();
    await writeMarker(home, { ...marker, damaged: { detectedAtMs: now(), problem } }).catch(() => undefined);
    throw new StoreDamagedError(damage, location, problem);
  };
  const dropped = await recoveryProblems(location);
  if (dropped.length > 0) {
    await refuse("log_recovery", `LevelDB dropped records while recovering its write-ahead log: ${dropped.join("; ")}`);
  }
  const started = performance.now();
  const bad = await checkLiveTables(store, location);
  const tableCheckMs = performance.now() - started;
  if (bad !== undefined) await refuse("table_corrupt", bad);
  if (created || !existsSync(markerPath(home))) await writeMarker(home, marker);
  return { store, marker, created, tableCheckMs };
}

/**
 * Checks every live table file of the open `store` (see {@link checkTable}); returns the first
 * problem as "<file>: <problem>", or undefined.
 */
export async function checkLiveTables(store: LevelStore, location: string): Promise<string | undefined> {
  for (const t of liveTables(store.property("leveldb.sstables"))) {
    const name = String(t.number).padStart(6, "0");
    let bytes: Buffer | undefined;
    let file = join(location, `${name}.ldb`);
    for (const candidate of [file, join(location, `${name}.sst`)]) {
      try {
        bytes = await readFile(candidate);
        file = candidate;
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    if (bytes === undefined) {
      // A background compaction may have replaced it since the property was read.
      if (liveTables(store.property("leveldb.sstables")).some((x) => x.number === t.number)) return `${file}: table file is missing`;
      continue;
    }
    if (bytes.length !== t.size) return `${file}: ${bytes.length} bytes, LevelDB expects ${t.size}`;
    const problem = checkTable(bytes);
    if (problem !== undefined) return `${file}: ${problem}`;
  }
  return undefined;
}

/** Records the gateway id in the marker once the daemon knows it; throws StoreDamagedError when it differs. */
export async function bindMarkerToGateway(home: string, marker: StoreMarker, gatewayId: string): Promise<StoreMarker> {
  if (marker.gatewayId === gatewayId) return marker;
  if (marker.gatewayId !== "") {
    throw new StoreDamagedError(
      "identity_mismatch",
      dbPath(home),
      `it holds gateway ${gatewayId.slice(0, 12)}, but store.json says this state dir belongs to gateway ${marker.gatewayId.slice(0, 12)} (a database from elsewhere was put here, or the identity was lost)`,
    );
  }
  const bound = { ...marker, gatewayId };
  await writeMarker(home, bound);
  return bound;
}
