import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Level } from "level";
import { GATEWAY_IDENTITY_KEY, gatewayIdentityOf } from "./domain/gateway-identity";
import { checkStoreIntegrity, type IntegrityReport } from "./domain/store-integrity";
import { BackupFileError, encodeBackup, readBackup } from "./storage/backup-file";
import { LevelStore, StoreLockedError } from "./storage/level-store";
import { recoveryProblems } from "./storage/leveldb-log";
import { dbPath, openStateStore, StoreDamagedError, checkLiveTables } from "./storage/state-store";
import { newMarker, readMarker, type StoreMarker, syncDir, writeMarker } from "./storage/store-marker";

/**
 * Offline store maintenance for `pairgate db verify|repair|reset`, `backup` and `restore` when no
 * daemon runs. Like src/daemon.ts this is a composition root that opens the database itself; the CLI
 * loads it lazily (only these commands pay for LevelDB). Every function fails with
 * MaintenanceError (a message for the operator) for expected problems.
 */
export class MaintenanceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MaintenanceError";
  }
}

export { BackupFileError, StoreDamagedError };
export type { IntegrityReport };

async function openChecked(home: string): Promise<LevelStore> {
  try {
    return (await openStateStore(home)).store;
  } catch (err) {
    if (err instanceof StoreLockedError) throw new MaintenanceError(`the pairgate daemon is running on ${home}; stop it first (or use the command while it runs, where supported)`, { cause: err });
    throw err;
  }
}

/** `db verify` offline: opens with every start-up check, then checks every invariant. */
export async function verifyOffline(home: string): Promise<IntegrityReport> {
  if (!existsSync(join(dbPath(home), "CURRENT")) && (await readMarker(home)) === undefined) {
    throw new MaintenanceError(`there is no pairgate store in ${home}`);
  }
  const store = await openChecked(home);
  try {
    return await checkStoreIntegrity(store, await store.meta().get(GATEWAY_IDENTITY_KEY));
  } finally {
    await store.close();
  }
}

/** What `db repair` did. */
export interface RepairResult {
  /** What LevelDB reported while repairing (dropped log records, skipped table blocks). */
  leveldbReport: string[];
  /** Entries per collection after the repair. */
  counts: IntegrityReport["counts"];
  /** Entries per collection in the last backup, when one was given to compare with. */
  backupCounts?: Record<string, number>;
  /** Invariant problems found after LevelDB's repair; all were fixed. */
  fixed: IntegrityReport["problems"];
  fixedCount: number;
  gatewayIdentity: "kept" | "missing";
}

/**
 * `db repair`: LevelDB's repair (rebuilds the MANIFEST from every readable table and log, moving
 * unreadable files to `db/lost/`), then the start-up checks, then the invariant check with every
 * derivable fix applied in one synced write. Clears the damage mark in store.json.
 */
export async function repairOffline(home: string, now = Date.now(), compareWith?: string): Promise<RepairResult> {
  const location = dbPath(home);
  if (!existsSync(location) || readdirSync(location).every((f) => f === "LOCK" || f.startsWith("LOG"))) {
    throw new MaintenanceError(`nothing to repair: ${location} holds no database files. Restore a backup with \`pairgate restore <file>\`, or start over with \`pairgate db reset --yes\``);
  }
  try {
    // level's typings omit the static repair that classic-level (its Node implementation) has.
    await (Level as unknown as { repair(location: string): Promise<void> }).repair(location);
  } catch (err) {
    const msg = String((err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message);
    if (/lock/i.test(msg)) throw new MaintenanceError(`the pairgate daemon is running on ${home}; stop it first`, { cause: err });
    throw new MaintenanceError(`LevelDB could not repair ${location}: ${msg}`, { cause: err });
  }
  const leveldbReport = await recoveryProblems(location);
  let store: LevelStore;
  try {
    store = await LevelStore.open(location, { createIfMissing: false });
  } catch (err) {
    throw new MaintenanceError(`${location} still does not open after repair: ${String((err as { cause?: Error }).cause?.message ?? err)}. Restore a backup or run \`pairgate db reset --yes\``, { cause: err });
  }
  try {
    const bad = await checkLiveTables(store, location);
    if (bad !== undefined) throw new MaintenanceError(`after LevelDB's repair a table is still damaged: ${bad}. Restore a backup or run \`pairgate db reset --yes\``);
    const identity = await store.meta().get(GATEWAY_IDENTITY_KEY);
    const report = await checkStoreIntegrity(store, identity);
    if (report.fixes.length > 0) await store.write(report.fixes, { sync: true });
    const after = await checkStoreIntegrity(store, identity);
    let gatewayId = "";
    try {
      gatewayId = gatewayIdentityOf(identity).gatewayId;
    } catch {
      // Reported as "missing" below; the daemon creates a new identity at its next start.
    }
    const previous = await readMarker(home).catch(() => undefined);
    const marker: StoreMarker = {
      ...(previous ?? newMarker(now)),
      gatewayId,
      generation: (previous?.generation ?? 0) + 1,
      lastRecovery: { kind: "repair", atMs: now, detail: `${report.problemCount} invariant problems fixed; LevelDB reported ${leveldbReport.length} problems` },
    };
    delete marker.damaged;
    await writeMarker(home, marker);
    const result: RepairResult = {
      leveldbReport,
      counts: after.counts,
      fixed: report.problems,
      fixedCount: report.problemCount,
      gatewayIdentity: gatewayId === "" ? "missing" : "kept",
    };
    if (compareWith !== undefined) result.backupCounts = await backupCounts(compareWith);
    return result;
  } finally {
    await store.close();
  }
}

/** Entries per collection in a backup file (for repair's "what was lost" report). */
async function backupCounts(file: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await readBackup(file, async (batch) => {
    for (const [key] of batch) {
      const sub = /^!([^!]+)!/.exec(key)?.[1] ?? "?";
      counts[sub] = (counts[sub] ?? 0) + 1;
    }
  });
  return counts;
}

/** `db reset --yes`: removes the database; the next start creates an empty store and a new gateway identity. */
export async function resetStore(home: string, now = Date.now()): Promise<void> {
  const location = dbPath(home);
  if (existsSync(join(location, "LOCK"))) {
    // Take LevelDB's lock to be sure no daemon uses the store (a damaged store may not open: ignore that).
    try {
      const probe = new Level(location, { createIfMissing: false });
      await probe.open();
      await probe.close();
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === "LEVEL_LOCKED") {
        throw new MaintenanceError(`the pairgate daemon is running on ${home}; stop it first`, { cause: err });
      }
    }
  }
  await rm(location, { recursive: true, force: true });
  const previous = await readMarker(home).catch(() => undefined);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeMarker(home, {
    ...newMarker(now, (previous?.generation ?? 0) + 1),
    pendingCreate: true,
    lastRecovery: { kind: "reset", atMs: now, detail: "store reset by the operator" },
  });
  await syncDir(home);
}

/** `backup <file>` offline: a snapshot of the stopped daemon's store. Returns the entry count. */
export async function backupOffline(home: string, write: (chunks: AsyncIterable<Buffer>) => Promise<void>, now = Date.now()): Promise<void> {
  const store = await openChecked(home);
  try {
    const identity = await store.meta().get(GATEWAY_IDENTITY_KEY);
    const gatewayId = identity === undefined ? "" : gatewayIdentityOf(identity).gatewayId;
    await write(encodeBackup(store, { gatewayId, nowMs: now }));
  } finally {
    await store.close();
  }
}

/** What `restore` did. */
export interface RestoreResult {
  entries: number;
  gatewayId: string;
  createdAtMs: number;
  /** Where the replaced database was moved (with --force over a non-empty store). */
  movedAside?: string;
}

/**
 * `restore <file>`: checks the backup's checksum first, then writes it into a fresh database (the
 * gateway identity included, so paired nodes keep working) and a new marker. Refuses over a store
 * that holds data unless `force`; with `force` the old database is moved aside, not deleted.
 */
export async function restoreOffline(home: string, file: string, force: boolean, now = Date.now()): Promise<RestoreResult> {
  const summary = await readBackup(file);
  const location = dbPath(home);
  let movedAside: string | undefined;
  if (existsSync(location) && readdirSync(location).some((f) => f !== "LOCK" && !f.startsWith("LOG"))) {
    if (!(await isEmptyStore(home))) {
      if (!force) throw new MaintenanceError(`${location} already holds a store; restoring would replace it. Run again with --force (the current database is moved aside, not deleted)`);
    }
    movedAside = `${location}.before-restore-${new Date(now).toISOString().replace(/[:.]/g, "-")}`;
    await rename(location, movedAside);
  }
  await mkdir(home, { recursive: true, mode: 0o700 });
  const store = await LevelStore.open(location);
  try {
    await readBackup(file, (batch) => store.putRaw(batch));
    await store.sync();
  } finally {
    await store.close();
  }
  const previous = await readMarker(home).catch(() => undefined);
  await writeMarker(home, {
    ...newMarker(now, (previous?.generation ?? 0) + 1),
    gatewayId: summary.header.gateway_id,
    lastRecovery: { kind: "restore", atMs: now, detail: `${summary.entries} entries from ${file} (backup of ${new Date(summary.header.created_at_ms).toISOString()})` },
  });
  await syncDir(home);
  return {
    entries: summary.entries,
    gatewayId: summary.header.gateway_id,
    createdAtMs: summary.header.created_at_ms,
    ...(movedAside === undefined ? {} : { movedAside }),
  };
}

/** True when the store of `home` holds nothing but its schema version (and maybe an identity). */
async function isEmptyStore(home: string): Promise<boolean> {
  let store: LevelStore;
  try {
    store = await LevelStore.open(dbPath(home), { createIfMissing: false });
  } catch (err) {
    if (err instanceof StoreLockedError) throw new MaintenanceError(`the pairgate daemon is running on ${home}; stop it first`, { cause: err });
    return false; // unreadable: treat as data (needs --force)
  }
  try {
    for await (const [key] of store.rawEntries()) if (!key.startsWith("!meta!")) return false;
    return true;
  } finally {
    await store.close();
  }
}
