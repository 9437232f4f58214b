import { chmod, mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { type LoadedConfig, loadConfig } from "./config/load";
import { type Clock, systemClock } from "./domain/clock";
import { DmPairing } from "./domain/dm-pairing";
import { createJsonLogger, type Logger } from "./domain/logger";
import { DmAccessServiceService } from "./gen/pairgate/v1/dm_access_service";
import { DmPairingServiceService } from "./gen/pairgate/v1/dm_pairing_service";
import { LevelStore, StoreLockedError } from "./storage/level-store";
import { dmAccessHandlers, dmPairingHandlers } from "./transport/grpc/dm-handlers";
import type { HandlerEnv } from "./transport/grpc/handler";
import { addHealth, addReflection, bindUnix, createServer, stopServer } from "./transport/grpc/server";

/** pairgate's version, reported by GetGatewayInfo and `pairgate --version`. */
export const VERSION = "0.1.0";

/** Longest unix socket path the OS accepts (sun_path is 108 bytes including NUL on Linux). */
const MAX_SOCKET_PATH = 107;

/** Thrown by {@link startDaemon} for a start-up problem the operator must fix; the message says how. */
export class DaemonStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DaemonStartError";
  }
}

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** State directory (created 0700): holds `db/` and, by default, `pairgate.sock`. */
  home: string;
  /** Config file path; omitted = embedded defaults. Ignored when `config` is given. */
  configPath?: string;
  /** An already loaded config (tests). */
  config?: LoadedConfig;
  /** Time source. @default systemClock */
  clock?: Clock;
  /** Log sink. @default JSON lines on stderr at the config's logLevel */
  logger?: Logger;
}

/** A running daemon. */
export interface Daemon {
  /** The operator unix socket. */
  readonly socketPath: string;
  /** The DM engine (tests use it to sweep expiry deterministically). */
  readonly dm: DmPairing;
  /** Stops gracefully: ends streams, drains calls (up to 5 s), closes the store, removes the socket. */
  stop(): Promise<void>;
}

/**
 * Composition root: config -> store -> domain -> transport. Resolves once the operator socket accepts
 * calls. Throws ConfigError for bad config and DaemonStartError for a locked state dir or unusable
 * socket path.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const loaded = options.config ?? loadConfig(options.configPath);
  const { config, policies } = loaded;
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createJsonLogger({ level: config.logLevel });
  const home = options.home;
  const socketPath = config.socketPath ?? join(home, "pairgate.sock");
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new DaemonStartError(
      `socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; set a shorter PAIRGATE_HOME or "socketPath"`,
    );
  }

  await mkdir(home, { recursive: true, mode: 0o700 });
  if (((await stat(home)).mode & 0o077) !== 0) await chmod(home, 0o700);

  let store: LevelStore;
  try {
    store = await LevelStore.open(join(home, "db"));
  } catch (err) {
    if (err instanceof StoreLockedError) {
      throw new DaemonStartError(`another pairgate daemon is using ${home}`, { cause: err });
    }
    throw err;
  }

  const servers: Server[] = [];
  const stopping = new AbortController();
  let sweeper: NodeJS.Timeout | undefined;
  const cleanup = async (): Promise<void> => {
    stopping.abort();
    if (sweeper !== undefined) clearInterval(sweeper);
    await Promise.all(servers.map((s) => stopServer(s, 5_000)));
    await store.close();
    await rm(socketPath, { force: true });
  };

  try {
    const startedAtMs = clock.now();
    const dm = new DmPairing({
      store,
      clock,
      logger: log.child({ component: "dm" }),
      policies,
      startedAtMs,
      pendingTtlMs: config.dm.pendingTtlMs,
      maxPending: config.dm.maxPending,
      historyGraceMs: config.dm.historyGraceMs,
    });
    const env: HandlerEnv = { log: log.child({ component: "grpc" }), stopping: stopping.signal };

    const operator = createServer();
    servers.push(operator);
    operator.addService(DmAccessServiceService, dmAccessHandlers(dm, env));
    operator.addService(DmPairingServiceService, dmPairingHandlers(dm, env));
    addHealth(operator, ["pairgate.v1.DmAccessService", "pairgate.v1.DmPairingService"]);
    addReflection(operator, ["pairgate/v1/dm_access_service.proto", "pairgate/v1/dm_pairing_service.proto"]);
    // We hold the database lock, so any socket file left here is stale.
    await rm(socketPath, { force: true });
    await bindUnix(operator, socketPath);

    sweeper = setInterval(() => {
      dm.sweepExpired().catch((err: unknown) => log.error("expiry sweep failed", { cause: String(err) }));
    }, config.dm.sweepIntervalMs);
    sweeper.unref();

    log.info("pairgate daemon started", { version: VERSION, home, socket: socketPath, config: loaded.source });
    let stopped: Promise<void> | undefined;
    return {
      socketPath,
      dm,
      stop: () => {
        stopped ??= cleanup().then(() => log.info("pairgate daemon stopped"));
        return stopped;
      },
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}
