import { mkdir } from "node:fs/promises";
import type { LoadedConfig } from "./config/load";
import { resolveStorage, STORAGE_URL_ENV, type StorageChoice } from "./config/storage";
import type { Clock } from "./domain/clock";
import { FailedPreconditionError, UnavailableError } from "./domain/errors";
import { GATEWAY_IDENTITY_KEY, type GatewayIdentity, gatewayIdentityOf, newGatewayKey } from "./domain/gateway-identity";
import type { Logger } from "./domain/logger";
import type { SharedStore } from "./domain/shared-store";
import type { Store, StoreStatus } from "./domain/store";
import type { StoreAdmin } from "./domain/store-admin";
import { checkStoreIntegrity } from "./domain/store-integrity";
import { LevelSharedStore } from "./storage/level-shared-store";
import { type LevelStore, StoreLockedError } from "./storage/level-store";
import { levelStoreAdmin } from "./storage/level-store-admin";
import type * as PostgresStoreModule from "./storage/postgres-store";
import type { PostgresStore } from "./storage/postgres-store";
import { bindMarkerToGateway, dbPath, openStateStore, StoreDamagedError } from "./storage/state-store";
import { markerPath, readMarker, type StoreMarker } from "./storage/store-marker";
import type { WriteFaults } from "./storage/write-faults";
import { DaemonStartError } from "./daemon-errors";
import { type ModeRule, secureStateFiles, UnsafeFileModeError } from "./state-files";

/** Store meta key of the auto TLS private key when several daemons share a store (PEM; as secret as the gateway key). */
export const NODE_TLS_KEY = "node_tls_key";
/** Store meta key set while `pairgate store migrate` copies into a PostgreSQL store (daemons refuse it meanwhile). */
export const MIGRATION_KEY = "migration_in_progress";
/** Store meta key set once a PostgreSQL store was migrated away (it is stale: daemons refuse it). */
export const MIGRATED_TO_KEY = "migrated_to";

/** What {@link openDaemonStore} needs. */
export interface DaemonStoreOptions {
  home: string;
  config: LoadedConfig["config"];
  /** Where the config came from (named in refusals). */
  source: string;
  log: Logger;
  clock: Clock;
  faults?: WriteFaults;
}

/**
 * The store a daemon runs on, whichever kind: the domain's port, the write status (the embedded store
 * fences itself after a failed write), the gateway identity (created once per store) and the admin
 * operations (state, backup, verify).
 */
export interface DaemonStore {
  readonly kind: "level" | "postgres";
  /** The domain's storage port. */
  readonly shared: SharedStore;
  /** Writable, or fenced since when and why (PostgreSQL: always writable; failures are per call). */
  status(): StoreStatus;
  /** Calls `listener` once when the store becomes fenced. */
  onStatusChange(listener: (status: StoreStatus) => void): void;
  /** The gateway identity, created at the store's first start (once across every daemon sharing it). */
  identity(): Promise<GatewayIdentity>;
  /** Admin operations; call after {@link identity}. Throws DaemonStartError (embedded store marker damage). */
  admin(identity: GatewayIdentity): Promise<StoreAdmin>;
  /** Closes the store. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The daemon's store, opened the way a start must: the storage kind resolved (PAIRGATE_STORAGE_URL
 * wins), umask 077, the state directory created (0700) and its files' modes checked or repaired, then
 * the LevelDB store opened with every start-up damage check (src/storage/state-store.ts), or the
 * PostgreSQL store connected and migrated. Throws DaemonStartError with the message to show (another
 * daemon holds the store, damage found, unsafe file modes, PostgreSQL unreachable).
 */
export async function openDaemonStore(o: DaemonStoreOptions): Promise<DaemonStore> {
  const { home, config, log, clock, source } = o;
  const storage = resolveStorage(config.storage, process.env, source);

  // Everything the daemon creates (LevelDB files, backups, TLS files) is for its user only.
  process.umask(0o077);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const tlsFiles: ModeRule[] =
    typeof config.nodes.tls === "object"
      ? [
          { path: config.nodes.tls.key, forbidden: 0o077, what: "nodes.tls key" },
          { path: config.nodes.tls.cert, forbidden: 0o022, what: "nodes.tls certificate" },
        ]
      : [];
  try {
    await secureStateFiles(home, tlsFiles, log.child({ component: "files" }));
  } catch (err) {
    if (err instanceof UnsafeFileModeError) throw new DaemonStartError(err.message, { cause: err });
    throw err;
  }

  if (storage.kind === "postgres") return openPostgres(storage, home, clock, source);
  // An unreadable marker is reported by openStateStore below.
  const migrated = embeddedMigrationRefusal(await readMarker(home).catch(() => undefined), home, source);
  if (migrated !== undefined) throw new DaemonStartError(migrated);

  let opened: Awaited<ReturnType<typeof openStateStore>>;
  try {
    opened = await openStateStore(home, {
      now: () => clock.now(),
      ...(o.faults === undefined ? {} : { faults: o.faults }),
    });
  } catch (err) {
    if (err instanceof StoreLockedError) {
      throw new DaemonStartError(`another pairgate daemon is using ${home}`, { cause: err });
    }
    if (err instanceof StoreDamagedError) throw new DaemonStartError(err.message, { cause: err });
    throw err;
  }
  const level = opened.store;
  let shared: LevelSharedStore;
  try {
    shared = await LevelSharedStore.over(level);
  } catch (err) {
    await level.close();
    throw err;
  }
  return {
    kind: "level",
    shared,
    status: () => level.status(),
    onStatusChange: (listener) => level.onStatusChange(listener),
    identity: () => gatewayIdentity(level, clock),
    admin: async (identity) => {
      let marker;
      try {
        marker = await bindMarkerToGateway(home, opened.marker, identity.gatewayId);
      } catch (err) {
        if (err instanceof StoreDamagedError) throw new DaemonStartError(err.message, { cause: err });
        throw err;
      }
      return levelStoreAdmin(home, level, marker, () => clock.now());
    },
    close: async () => {
      await shared.close();
      await level.close();
    },
  };
}

/**
 * Why no daemon may serve the embedded store of `home` after `pairgate store migrate` (its marker says
 * the store was copied elsewhere, so it is stale and serving it would resurrect what was revoked since,
 * or that a copy into it has not finished), or undefined. Also refuses it as a migration's source.
 */
export function embeddedMigrationRefusal(marker: StoreMarker | undefined, home: string, source: string): string | undefined {
  const db = dbPath(home);
  if (marker?.migratedTo !== undefined) {
    return (
      `the store at ${db} was migrated to ${marker.migratedTo.target} on ${new Date(marker.migratedTo.atMs).toISOString()} and is stale (${markerPath(home)} says so). ` +
      `Run the daemon on that store (set ${STORAGE_URL_ENV}, or "storage" in ${source}), or bring the data back here with \`pairgate store migrate --to level\` run with that store configured`
    );
  }
  if (marker?.migrationInProgress !== undefined) {
    return `the store at ${db} holds an unfinished copy from ${marker.migrationInProgress.from} (${markerPath(home)} says so): run \`pairgate store migrate --to level\` with that store configured again to finish it`;
  }
  return undefined;
}

/** The same for a PostgreSQL store (`name` as messages call it), from its meta records. Throws UnavailableError. */
export async function sharedMigrationRefusal(store: SharedStore, name: string): Promise<string | undefined> {
  const moved = (await store.get("meta", MIGRATED_TO_KEY)) as { target: string; atMs: number } | undefined;
  if (moved !== undefined) {
    return (
      `${name} was migrated to ${moved.target} on ${new Date(moved.atMs).toISOString()} (\`pairgate store migrate\`) and is stale: ` +
      "run the daemon on that store, or bring the data back with `pairgate store migrate --to <url>` run with that store configured"
    );
  }
  const unfinished = (await store.get("meta", MIGRATION_KEY)) as { from: string } | undefined;
  if (unfinished !== undefined) return `${name} holds an unfinished copy from ${unfinished.from}: run \`pairgate store migrate\` from that store again to finish it`;
  return undefined;
}

/** The PostgreSQL store as messages name it (the password masked). */
export function postgresStoreName(storage: { url: string; tenant: string }): string {
  return `PostgreSQL ${maskedUrl(storage.url)}${storage.tenant === "" ? "" : ` (tenant ${storage.tenant})`}`;
}

/** `postgres://user:***@host:port/db`: a URL fit for messages (the password masked). */
export function maskedUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, "$1:***@");
}

/** Connects to (and migrates) the PostgreSQL store several daemons share. Throws DaemonStartError. */
async function openPostgres(storage: Extract<StorageChoice, { kind: "postgres" }>, home: string, clock: Clock, source: string): Promise<DaemonStore> {
  let pg: PostgresStore;
  try {
    // Loaded only here: a daemon on the embedded store never loads the PostgreSQL driver (start-up, memory).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PostgresStore } = require("./storage/postgres-store") as typeof PostgresStoreModule;
    pg = await PostgresStore.open({ url: storage.url, tenant: storage.tenant });
  } catch (err) {
    const from = storage.urlFrom === "env" ? STORAGE_URL_ENV : `storage.url in ${source}`;
    throw new DaemonStartError(
      `cannot open the PostgreSQL store ${maskedUrl(storage.url)} (from ${from}): ${(err as Error).message}; ` +
        "check that the server runs and the URL, user and password are right (psql with the same URL tells)",
      { cause: err },
    );
  }
  let refusal: string | undefined;
  try {
    refusal = await sharedMigrationRefusal(pg, postgresStoreName(storage));
  } catch (err) {
    await pg.close();
    throw new DaemonStartError(`cannot read the PostgreSQL store ${maskedUrl(storage.url)}: ${(err as Error).message}`, { cause: err });
  }
  if (refusal !== undefined) {
    await pg.close();
    throw new DaemonStartError(refusal);
  }
  const status: StoreStatus = { writable: true };
  return {
    kind: "postgres",
    shared: pg,
    status: () => status,
    onStatusChange: () => undefined,
    identity: async () => {
      const { value } = await pg.putIfAbsent("meta", GATEWAY_IDENTITY_KEY, newGatewayKey(clock.now()));
      return gatewayIdentityOf(value);
    },
    admin: async (identity) => ({
      state: () => ({ ...status, home, storeId: `postgres ${maskedUrl(storage.url)}${storage.tenant === "" ? "" : ` tenant ${storage.tenant}`}`, generation: 0, createdAtMs: 0, gatewayId: identity.gatewayId }),
      backup: () => refuseBackup(),
      verify: async () => checkStoreIntegrity(embeddedView(pg), await pg.get("meta", GATEWAY_IDENTITY_KEY)),
    }),
    close: () => pg.close(),
  };
}

async function* refuseBackup(): AsyncIterable<Buffer> {
  throw new FailedPreconditionError(
    "pairgate backup covers the embedded store; a PostgreSQL store is backed up by PostgreSQL (pg_dump, or your provider's snapshots)",
  );
}

/** The read side of the embedded Store port over a SharedStore, for the integrity check. */
export function embeddedView(store: SharedStore): Store {
  return {
    collection: (name) => ({
      get: (key) => store.get(name, key),
      getSync: () => {
        throw new UnavailableError("synchronous reads are not available on a shared store");
      },
      entries: (range) => store.entries(name, range),
    }),
    write: () => Promise.reject(new UnavailableError("the integrity check does not write")),
  } as Store;
}

/** The keys that differ between `a` and `b` but only take effect on restart (listeners, TLS, socket). */
export function restartRequiredChanges(a: LoadedConfig["config"], b: LoadedConfig["config"]): string[] {
  const keys: Array<[string, unknown, unknown]> = [
    ["socketPath", a.socketPath, b.socketPath],
    ["adapters.socketPath", a.adapters.socketPath, b.adapters.socketPath],
    ["adapters.socketGroup", a.adapters.socketGroup, b.adapters.socketGroup],
    ["dm.streamsPerConnection", a.dm.streamsPerConnection, b.dm.streamsPerConnection],
    ["nodes.listen", a.nodes.listen, b.nodes.listen],
    ["nodes.tls", a.nodes.tls, b.nodes.tls],
    ["nodes.insecure", a.nodes.insecure, b.nodes.insecure],
    ["nodes.name", a.nodes.name, b.nodes.name],
    ["nodes.limits", a.nodes.limits, b.nodes.limits],
    ["nodes.invites", a.nodes.invites, b.nodes.invites],
    ["storage", a.storage, b.storage],
  ];
  return keys.filter(([, x, y]) => JSON.stringify(x) !== JSON.stringify(y)).map(([k]) => k);
}

/** Reads the gateway identity from the store's meta sublevel, creating it at first start. */
export async function gatewayIdentity(store: LevelStore, clock: Clock): Promise<GatewayIdentity> {
  const meta = store.meta();
  let stored = await meta.get(GATEWAY_IDENTITY_KEY);
  if (stored === undefined) {
    stored = newGatewayKey(clock.now());
    await meta.put(GATEWAY_IDENTITY_KEY, stored);
  }
  return gatewayIdentityOf(stored);
}
