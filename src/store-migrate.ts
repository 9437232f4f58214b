import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StorageChoice } from "./config/storage";
import { canonicalJson } from "./domain/canonical-json";
import { GATEWAY_IDENTITY_KEY, gatewayIdentityOf } from "./domain/gateway-identity";
import { INSTANCE_KEY_PREFIX } from "./domain/instance-registry";
import type { SharedCollectionName, SharedStore } from "./domain/shared-store";
import type { CollectionName } from "./domain/store";
import { checkStoreIntegrity, type IntegrityProblem } from "./domain/store-integrity";
import {
  embeddedMigrationRefusal,
  embeddedView,
  MIGRATED_TO_KEY,
  MIGRATION_KEY,
  NODE_TLS_KEY,
  postgresStoreName,
  sharedMigrationRefusal,
} from "./daemon-store";
import { SCHEMA_VERSION_KEY, SUBLEVELS, SHARED_SUBLEVELS } from "./storage/keys";
import { LevelSharedStore } from "./storage/level-shared-store";
import { LevelStore, StoreLockedError } from "./storage/level-store";
import { PostgresStore } from "./storage/postgres-store";
import { dbPath, openStateStore, StoreDamagedError } from "./storage/state-store";
import { MarkerUnreadableError, newMarker, readMarker, type StoreMarker, syncDir, writeFileDurably, writeMarker } from "./storage/store-marker";
import { MaintenanceError } from "./store-maintenance";

/**
 * `pairgate store migrate --to URL|level`: copies the configured store (the embedded LevelDB of the
 * home, or a PostgreSQL store) into another, then verifies the copy entry by entry. A composition root
 * like src/store-maintenance.ts (it opens stores itself); the CLI loads it only for this command.
 *
 * Safety rules (README: Moving a store):
 * - every daemon must be stopped: the embedded store's lock tells for LevelDB, `pg_stat_activity` for
 *   PostgreSQL (sessions named `pairgate`);
 * - the target must be empty, or hold a copy that is stale (migrated away earlier) or unfinished (an
 *   interrupted migration); an embedded target holding live data is moved aside only with `force`;
 * - while copying, the target is marked unfinished, so no daemon starts on half a store; when the
 *   copy is verified the mark is cleared and the source is marked stale (the daemon refuses to start on
 *   it), so an operator cannot serve the old copy by mistake and resurrect what was revoked since.
 *
 * Copied: every durable collection and the gateway identity (paired nodes keep working), and the
 * auto-TLS key (nodes keep their SPKI pin). Not copied: nonces, sessions and recently resolved
 * requests (nodes authenticate again, as after any restart).
 */

/** Where `store migrate` copies to. */
export type MigrateTarget = { kind: "level" } | { kind: "postgres"; url: string; tenant: string };

/** What {@link migrateStore} needs. */
export interface MigrateOptions {
  home: string;
  /** The configured store (the source). */
  from: StorageChoice;
  to: MigrateTarget;
  /** Move an embedded target that holds live data aside instead of refusing. */
  force?: boolean;
  now?: () => number;
  /** Called after each copied batch with the entries copied so far. */
  onProgress?: (copied: number) => void;
}

/** What {@link migrateStore} did. */
export interface MigrateResult {
  from: string;
  to: string;
  gatewayId: string;
  /** Entries copied (and verified) per collection. */
  counts: Record<string, number>;
  entries: number;
  /** Whether the auto-TLS key went with the store (so nodes keep their pin). */
  tlsKey: "copied" | "none";
  /** Where an embedded target's previous database was moved. */
  movedAside?: string;
  /** What replaced a stale or unfinished PostgreSQL target: entries deleted first. */
  cleared?: number;
  /** Invariant problems of the copy (the source has the same ones: `pairgate db verify` before). */
  problems: IntegrityProblem[];
  problemCount: number;
  elapsedMs: number;
}

/** Durable collections copied, in this order; `meta` is copied key by key (see {@link copyMeta}). */
const COLLECTIONS = Object.keys(SUBLEVELS) as CollectionName[];
/** Meta keys that belong to one store and never travel (besides the instance records of its daemons). */
const LOCAL_META = new Set([SCHEMA_VERSION_KEY, MIGRATION_KEY, MIGRATED_TO_KEY, NODE_TLS_KEY]);
const BATCH = 500;
const LOCK = "\u0001store-migrate";

/** One end of a migration: the port, what to call it, and how it is closed. */
interface End {
  store: SharedStore;
  name: string;
  close(): Promise<void>;
}

/**
 * Copies and verifies (see the module comment). Throws MaintenanceError with the message to show for
 * every expected refusal or failure (daemons running, target not empty, copy differs, stores unreachable).
 */
export async function migrateStore(o: MigrateOptions): Promise<MigrateResult> {
  const now = o.now ?? Date.now;
  const started = now();
  const fromName = describeChoice(o.from, o.home);
  const toName = describeChoice(o.to, o.home);
  if (o.from.kind === o.to.kind && (o.to.kind === "level" || (o.from.kind === "postgres" && o.to.kind === "postgres" && sameDatabase(o.from, o.to)))) {
    throw new MaintenanceError(`the store is already ${toName}: nothing to migrate`);
  }
  const source = await openSource(o, fromName);
  try {
    const tlsFile = join(o.home, "node-tls", "key.pem");
    const target = await openTarget(o, fromName, toName, now);
    try {
      const copied = await copyAll(source.store, target.end.store, o.onProgress);
      let tlsKey: MigrateResult["tlsKey"] = "none";
      if (o.to.kind === "postgres") {
        const pem = await readFile(tlsFile, "utf8").catch(() => undefined);
        if (pem !== undefined) {
          await target.end.store.transact(LOCK, async (tx) => tx.put("meta", NODE_TLS_KEY, pem));
          tlsKey = "copied";
        }
      } else {
        const pem = await source.store.get("meta", NODE_TLS_KEY);
        if (typeof pem === "string") {
          await writeTlsKey(join(o.home, "node-tls"), pem);
          tlsKey = "copied";
        }
      }
      const counts = await verifyCopy(source.store, target.end.store, fromName, toName);
      const identity = await target.end.store.get("meta", GATEWAY_IDENTITY_KEY);
      const gatewayId = identity === undefined ? "" : gatewayIdentityOf(identity).gatewayId;
      const report = await checkStoreIntegrity(embeddedView(target.end.store), identity);
      await target.finish(gatewayId);
      await source.markStale(toName);
      return {
        from: fromName,
        to: toName,
        gatewayId,
        counts,
        entries: copied,
        tlsKey,
        ...(target.movedAside === undefined ? {} : { movedAside: target.movedAside }),
        ...(target.cleared === undefined ? {} : { cleared: target.cleared }),
        problems: report.problems,
        problemCount: report.problemCount,
        elapsedMs: now() - started,
      };
    } finally {
      await target.end.close();
    }
  } finally {
    await source.close();
  }
}

function sameDatabase(a: { url: string; tenant: string }, b: { url: string; tenant: string }): boolean {
  return a.url === b.url && a.tenant === b.tenant;
}

/** "the embedded store in <home>/db" or "PostgreSQL postgres://u:***@h/db [tenant t]" (never a password). */
function describeChoice(c: StorageChoice | MigrateTarget, home: string): string {
  return c.kind === "level" ? `the embedded store in ${dbPath(home)}` : postgresStoreName(c);
}

async function openPostgres(c: { url: string; tenant: string }, name: string): Promise<PostgresStore> {
  let pg: PostgresStore;
  try {
    pg = await PostgresStore.open({ url: c.url, tenant: c.tenant, applicationName: "pairgate-migrate", poolSize: 4 });
  } catch (err) {
    throw new MaintenanceError(`cannot open ${name}: ${(err as Error).message}`, { cause: err });
  }
  const sessions = await pg.daemonSessions();
  if (sessions > 0) {
    await pg.close();
    throw new MaintenanceError(`${sessions} pairgate daemon connections are open to ${name}; stop every daemon that uses it first (the copy must not miss a change)`);
  }
  return pg;
}

async function openSource(o: MigrateOptions, name: string): Promise<End & { markStale(target: string): Promise<void> }> {
  const now = o.now ?? Date.now;
  if (o.from.kind === "postgres") {
    const pg = await openPostgres(o.from, name);
    const refusal = await sharedMigrationRefusal(pg, name);
    if (refusal !== undefined) {
      await pg.close();
      throw new MaintenanceError(refusal);
    }
    return {
      store: pg,
      name,
      close: () => pg.close(),
      markStale: (target) => pg.transact(LOCK, async (tx) => tx.put("meta", MIGRATED_TO_KEY, { target, atMs: now() })),
    };
  }
  const refusal = embeddedMigrationRefusal(await markerOf(o.home), o.home, "the config");
  if (refusal !== undefined) throw new MaintenanceError(refusal);
  let opened: Awaited<ReturnType<typeof openStateStore>>;
  try {
    opened = await openStateStore(o.home, { now });
  } catch (err) {
    if (err instanceof StoreLockedError) throw new MaintenanceError(`the pairgate daemon is running on ${o.home}; stop it first`, { cause: err });
    if (err instanceof StoreDamagedError) throw new MaintenanceError(`${err.message}; repair it before migrating`, { cause: err });
    throw err;
  }
  if (opened.created) {
    await opened.store.close();
    throw new MaintenanceError(`there is no pairgate store in ${o.home} to migrate (start the daemon once, or check --home)`);
  }
  const shared = await LevelSharedStore.over(opened.store);
  return {
    store: shared,
    name,
    close: async () => {
      await shared.close();
      await opened.store.close();
    },
    markStale: async (target) => {
      const current = (await readMarker(o.home)) ?? opened.marker;
      await writeMarker(o.home, { ...current, migratedTo: { target, atMs: now() } });
    },
  };
}

interface Target {
  end: End;
  movedAside?: string;
  cleared?: number;
  /** Clears the unfinished mark: daemons may start on the target. */
  finish(gatewayId: string): Promise<void>;
}

async function openTarget(o: MigrateOptions, fromName: string, toName: string, now: () => number): Promise<Target> {
  const mark = { from: fromName, startedAtMs: now() };
  if (o.to.kind === "postgres") {
    const pg = await openPostgres(o.to, toName);
    try {
      let cleared: number | undefined;
      if (await holdsData(pg)) {
        const moved = await pg.get("meta", MIGRATED_TO_KEY);
        const unfinished = await pg.get("meta", MIGRATION_KEY);
        if (moved === undefined && unfinished === undefined) {
          const identity = await pg.get("meta", GATEWAY_IDENTITY_KEY);
          const who = identity === undefined ? "" : ` (gateway ${gatewayIdentityOf(identity).gatewayId})`;
          throw new MaintenanceError(
            `${toName} already holds a pairgate store${who}; migrate into an empty database or another tenant (storage.tenant). Nothing was changed`,
          );
        }
        cleared = await clearAll(pg);
      }
      await pg.transact(LOCK, async (tx) => tx.put("meta", MIGRATION_KEY, mark));
      return {
        end: { store: pg, name: toName, close: () => pg.close() },
        ...(cleared === undefined ? {} : { cleared }),
        finish: () => pg.transact(LOCK, async (tx) => tx.del("meta", MIGRATION_KEY)),
      };
    } catch (err) {
      await pg.close();
      throw err;
    }
  }
  const location = dbPath(o.home);
  const marker = await markerOf(o.home);
  let movedAside: string | undefined;
  const holds = existsSync(location) && readdirSync(location).some((f) => f !== "LOCK" && !f.startsWith("LOG"));
  if (holds) {
    if (marker?.migrationInProgress !== undefined) {
      await rm(location, { recursive: true, force: true }); // an interrupted copy: the source still has everything
    } else {
      const stale = marker?.migratedTo !== undefined;
      if (!stale && o.force !== true) {
        throw new MaintenanceError(
          `${location} already holds a store that was not migrated away; run again with --force to move it aside (it is kept, not deleted). Nothing was changed`,
        );
      }
      await assertUnlocked(location, o.home);
      movedAside = `${location}.${stale ? "migrated" : "before-migrate"}-${new Date(now()).toISOString().replace(/[:.]/g, "-")}`;
      await rename(location, movedAside);
    }
  }
  await mkdir(o.home, { recursive: true, mode: 0o700 });
  await writeMarker(o.home, { ...newMarker(now(), (marker?.generation ?? 0) + 1), migrationInProgress: mark });
  await syncDir(o.home);
  const level = await LevelStore.open(location);
  const shared = await LevelSharedStore.over(level);
  return {
    end: {
      store: shared,
      name: toName,
      close: async () => {
        await shared.close();
        await level.close();
      },
    },
    ...(movedAside === undefined ? {} : { movedAside }),
    finish: async (gatewayId) => {
      const current = (await readMarker(o.home)) as StoreMarker;
      const done: StoreMarker = { ...current, gatewayId, lastRecovery: { kind: "migrate", atMs: now(), detail: `copied from ${fromName}` } };
      delete done.migrationInProgress;
      await writeMarker(o.home, done);
      await syncDir(o.home);
    },
  };
}

async function markerOf(home: string): Promise<StoreMarker | undefined> {
  try {
    return await readMarker(home);
  } catch (err) {
    if (err instanceof MarkerUnreadableError) throw new MaintenanceError(`${err.message}; repair it with \`pairgate db repair\` first`, { cause: err });
    throw err;
  }
}

/** Refuses when a daemon holds the embedded database at `location`. */
async function assertUnlocked(location: string, home: string): Promise<void> {
  try {
    const probe = await LevelStore.open(location, { createIfMissing: false });
    await probe.close();
  } catch (err) {
    if (err instanceof StoreLockedError) throw new MaintenanceError(`the pairgate daemon is running on ${home}; stop it first`, { cause: err });
    // A store that does not open is moved aside all the same (it is kept).
  }
}

/** True when any collection of `store` holds a record. */
async function holdsData(store: SharedStore): Promise<boolean> {
  for (const name of Object.keys(SHARED_SUBLEVELS) as SharedCollectionName[]) {
    for await (const entry of store.entries(name, { limit: 1 })) return entry !== undefined;
  }
  return false;
}

/** Deletes every record of every collection (a stale or unfinished target); returns how many. */
async function clearAll(store: SharedStore): Promise<number> {
  let deleted = 0;
  for (const name of Object.keys(SHARED_SUBLEVELS) as SharedCollectionName[]) {
    for (;;) {
      const keys: string[] = [];
      for await (const [key] of store.entries(name, { limit: BATCH })) keys.push(key);
      if (keys.length === 0) break;
      await store.transact(LOCK, async (tx) => {
        for (const key of keys) tx.del(name, key);
      });
      deleted += keys.length;
    }
  }
  return deleted;
}

/** The meta entries that travel with the store (the gateway identity among them). */
async function* copiedMeta(store: SharedStore): AsyncIterable<[string, unknown]> {
  for await (const [key, value] of store.entries("meta", {})) {
    if (!LOCAL_META.has(key) && !key.startsWith(INSTANCE_KEY_PREFIX)) yield [key, value];
  }
}

function entriesOf(store: SharedStore, name: CollectionName | "meta"): AsyncIterable<[string, unknown]> {
  return name === "meta" ? copiedMeta(store) : store.entries(name, {});
}

/** Copies every durable collection in batches of {@link BATCH} entries; returns the count. */
async function copyAll(from: SharedStore, to: SharedStore, onProgress: ((copied: number) => void) | undefined): Promise<number> {
  let copied = 0;
  for (const name of ["meta" as const, ...COLLECTIONS]) {
    let batch: Array<[string, unknown]> = [];
    const flush = async (): Promise<void> => {
      const puts = batch;
      batch = [];
      await to.transact(LOCK, async (tx) => {
        for (const [key, value] of puts) tx.put(name, key, value as never);
      }, { durable: false });
      copied += puts.length;
      onProgress?.(copied);
    };
    for await (const entry of entriesOf(from, name)) {
      batch.push(entry);
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  }
  // One durable commit at the end makes every earlier batch durable on the embedded store too.
  await to.transact(LOCK, async () => undefined, { durable: true });
  return copied;
}

/**
 * Reads both stores side by side, collection by collection in key order, and compares every key and
 * value. Returns the counts. Throws MaintenanceError naming the first difference.
 */
async function verifyCopy(from: SharedStore, to: SharedStore, fromName: string, toName: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of ["meta" as const, ...COLLECTIONS]) {
    const a = entriesOf(from, name)[Symbol.asyncIterator]();
    const b = entriesOf(to, name)[Symbol.asyncIterator]();
    let n = 0;
    for (;;) {
      const [x, y] = await Promise.all([a.next(), b.next()]);
      if (x.done === true && y.done === true) break;
      const key = x.done === true ? undefined : x.value[0];
      const other = y.done === true ? undefined : y.value[0];
      if (key !== other || canonicalJson(x.value?.[1]) !== canonicalJson(y.value?.[1])) {
        throw new MaintenanceError(
          `verification failed: ${name} entry ${JSON.stringify(key ?? other)} differs between ${fromName} and ${toName}; ` +
            "the copy stays marked unfinished (no daemon starts on it). Run the migration again",
        );
      }
      n++;
    }
    counts[name] = n;
  }
  return counts;
}


/** Writes the auto-TLS key the nodes pin into `dir` (0600), dropping a certificate of another key. */
async function writeTlsKey(dir: string, pem: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, "key.pem");
  const current = await readFile(keyPath, "utf8").catch(() => undefined);
  if (current === pem) return;
  await writeFileDurably(keyPath, pem);
  await rm(join(dir, "cert.pem"), { force: true }); // re-issued for this key at the next start
}
