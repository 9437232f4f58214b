import { mkdir } from "node:fs/promises";
import type { LoadedConfig } from "./config/load";
import { resolveStorage, STORAGE_URL_ENV } from "./config/storage";
import type { Clock } from "./domain/clock";
import { GATEWAY_IDENTITY_KEY, type GatewayIdentity, gatewayIdentityOf, newGatewayKey } from "./domain/gateway-identity";
import type { Logger } from "./domain/logger";
import { type LevelStore, StoreLockedError } from "./storage/level-store";
import { openStateStore, StoreDamagedError } from "./storage/state-store";
import type { WriteFaults } from "./storage/write-faults";
import { DaemonStartError } from "./daemon-errors";
import { type ModeRule, secureStateFiles, UnsafeFileModeError } from "./state-files";

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
 * The daemon's store, opened the way a start must: the storage kind checked, umask 077, the state
 * directory created (0700) and its files' modes checked or repaired, then the LevelDB store opened with
 * every start-up damage check (src/storage/state-store.ts). Throws DaemonStartError with the message
 * to show (another daemon holds the store, damage found, unsafe file modes, postgres not available).
 */
export async function openDaemonStore(o: DaemonStoreOptions): Promise<Awaited<ReturnType<typeof openStateStore>>> {
  const { home, config, log, clock, source } = o;
  // Several daemons over one PostgreSQL (issue 12) need the domain on the shared-store port first;
  // until then this build refuses the setting rather than silently using LevelDB.
  const storage = resolveStorage(config.storage, process.env, source);
  if (storage.kind === "postgres") {
    throw new DaemonStartError(
      `storage kind "postgres" (from ${storage.urlFrom === "env" ? STORAGE_URL_ENV : `config ${source}`}): ` +
        `multi-daemon PostgreSQL mode is not available in this build of pairgate; ` +
        (storage.urlFrom === "env"
          ? `unset ${STORAGE_URL_ENV} to use the embedded LevelDB store`
          : `set "storage": {"kind": "level"} (or remove "storage") in ${source} to use the embedded LevelDB store`),
    );
  }

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
  return opened;
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
