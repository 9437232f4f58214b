import { hostname } from "node:os";
import { setMaxListeners } from "node:events";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Server, ServerCredentials } from "@grpc/grpc-js";
import { type LoadedConfig, loadConfig } from "./config/load";
import { AuditLog } from "./domain/audit-log";
import { type Clock, systemClock } from "./domain/clock";
import { DmPairing } from "./domain/dm-pairing";
import { createLogger, type LevelledLogger, type LogFormat, type Logger, type LogLevel } from "./domain/logger";
import { NodePairing } from "./domain/node-pairing";
import { DmAccessServiceService } from "./gen/pairgate/v1/dm_access_service";
import { DmPairingServiceService } from "./gen/pairgate/v1/dm_pairing_service";
import { NodeAdminServiceService } from "./gen/pairgate/v1/node_admin_service";
import { NodePairingServiceService } from "./gen/pairgate/v1/node_pairing_service";
import { AdminServiceService } from "./gen/pairgate/v1/admin_service";
import type { StoreState } from "./domain/store-admin";
import type { WriteFaults } from "./storage/write-faults";
import { adminHandlers } from "./transport/grpc/admin-handlers";
import { dmAccessHandlers, dmPairingHandlers } from "./transport/grpc/dm-handlers";
import type { HandlerEnv } from "./transport/grpc/handler";
import { nodeAdminHandlers, nodePairingHandlers } from "./transport/grpc/node-handlers";
import { type AuditSweeper, daemonStatusView, startAuditSweeper } from "./daemon-admin";
import type { NodeTls } from "./transport/grpc/node-tls";
import { isLoopbackHost, splitHostPort, startNodeTls } from "./daemon-node-tls";
import { ConnectionGuard } from "./transport/grpc/connection-guard";
import { PeerLimits } from "./transport/grpc/peer-limits";
import { addHealth, addReflection, createServer, SERVER_OPTIONS, stopServer } from "./transport/grpc/server";
import { DaemonStartError } from "./daemon-errors";
import { configFingerprint } from "./config/fingerprint";
import { InstanceRegistry } from "./domain/instance-registry";
import { type DaemonStore, NODE_TLS_KEY, openDaemonStore, restartRequiredChanges } from "./daemon-store";
import { channelSet, listenUnix, resolveGroup } from "./daemon-sockets";
import { streamCapInterceptor } from "./transport/grpc/stream-caps";
import { strictService } from "./transport/grpc/strict-decode";
import type { MissDelaySchedule } from "./domain/approve-misses";

export { DaemonStartError } from "./daemon-errors";

/** pairgate's version, reported by GetGatewayInfo and `pairgate --version`. */
export const VERSION = "0.1.0";


/** Longest unix socket path the OS accepts (sun_path is 108 bytes including NUL on Linux). */
const MAX_SOCKET_PATH = 107;

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** State directory (created 0700): holds `db/` and, by default, `pairgate.sock`. */
  home: string;
  /** Config file path (JSONC); omitted = embedded defaults. Reloaded on {@link Daemon.reload}. */
  configPath?: string;
  /** An already loaded config (tests). */
  config?: LoadedConfig;
  /** Time source. @default systemClock */
  clock?: Clock;
  /** Log sink. @default lines on stderr in `logFormat` at `logLevel` (else the config's logLevel) */
  logger?: Logger;
  /** Log level that wins over the config's `logLevel`, also across reloads (--log-level, $PAIRGATE_LOG_LEVEL). */
  logLevel?: LogLevel;
  /** @default "json" */
  logFormat?: LogFormat;
  /** Test seam: makes chosen store writes fail like a full or failing disk. */
  storeFaults?: WriteFaults;
  /** Test seam: the approve-miss delay schedule. @default 1 s doubling to 30 s (see approve-misses.ts) */
  approveMissDelays?: MissDelaySchedule;
}

/** The outcome of {@link Daemon.reload}. */
export type ReloadResult = { ok: true; source: string } | { ok: false; error: string };

/** A running daemon. */
export interface Daemon {
  /** The operator unix socket (owner only, every service). */
  readonly socketPath: string;
  /** The adapter unix socket (mode 0660, DmAccessService and health only). */
  readonly adapterSocketPath: string;
  /** The DM engine (tests use it to sweep expiry deterministically). */
  readonly dm: DmPairing;
  /** The node listener's bound address as "host:port" (the real port when `nodes.listen` used port 0). */
  readonly nodeAddress: string;
  /** Whether the node listener serves TLS. */
  readonly nodeTls: boolean;
  /** The node pairing engine (tests use it to sweep expiry deterministically). */
  readonly nodes: NodePairing;
  /**
   * Re-reads the config file (SIGHUP) and swaps in policies, allowFrom, the DM limits, the reply text and
   * the log level as one synchronous step. An unreadable or invalid file changes nothing and is logged
   * (and returned) with the reason. Keys that need a restart (socketPath, nodes.listen/tls/insecure) are
   * logged when they differ. Never throws.
   */
  reload(): ReloadResult;
  /** The store's state: writable, or fenced after a failed write (since when, why), and its identity. */
  storeState(): StoreState;
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
  // Our own logger's level follows reloads; a logger passed in (tests) keeps its own.
  const ownLog: LevelledLogger | undefined =
    options.logger === undefined ? createLogger({ level: options.logLevel ?? config.logLevel, format: options.logFormat ?? "json" }) : undefined;
  const log: Logger = options.logger ?? (ownLog as LevelledLogger);
  const home = options.home;
  const socketPath = config.socketPath ?? join(home, "pairgate.sock");
  const adapterSocketPath = config.adapters.socketPath ?? join(dirname(socketPath), "adapter.sock");
  for (const [path, key] of [[socketPath, "socketPath"], [adapterSocketPath, "adapters.socketPath"]] as const) {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new DaemonStartError(
        `socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes; set a shorter PAIRGATE_HOME or "${key}"`,
      );
    }
  }
  if (adapterSocketPath === socketPath) {
    throw new DaemonStartError(`adapters.socketPath must differ from socketPath (both are ${socketPath})`);
  }
  const adapterGid = resolveGroup(config.adapters.socketGroup, loaded.source);

  const nodeListen = splitHostPort(config.nodes.listen);
  if (!isLoopbackHost(nodeListen.host) && config.nodes.tls === undefined && !config.nodes.insecure) {
    throw new DaemonStartError(
      `nodes.listen is "${config.nodes.listen}", which is not a loopback address, and nodes.tls is not set ` +
        `(config ${loaded.source}): set nodes.tls to {"cert": ..., "key": ...} or "auto", ` +
        `or set nodes.insecure: true to send node tokens in clear`,
    );
  }

  const ds: DaemonStore = await openDaemonStore({ home, config, source: loaded.source, log, clock, ...(options.storeFaults === undefined ? {} : { faults: options.storeFaults }) });
  const store = ds.shared;
  let dmEngine: DmPairing | undefined;
  let nodeEngine: NodePairing | undefined;

  const servers: Server[] = [];
  const limits = config.nodes.limits;
  const guard = new ConnectionGuard(limits, log.child({ component: "nodes-listener" }));
  const stopping = new AbortController();
  // Every open stream (WatchNode, Connect, …) listens for the stop: thousands may, legitimately.
  setMaxListeners(0, stopping.signal);
  let sweeper: NodeJS.Timeout | undefined;
  let nodeSweeper: NodeJS.Timeout | undefined;
  let auditSweeper: AuditSweeper | undefined;
  let nodeTls: NodeTls | undefined;
  let registry: InstanceRegistry | undefined;
  // Only sockets this daemon bound are removed at stop (never a file someone put at socketPath).
  const boundSockets: string[] = [];
  const cleanup = async (): Promise<void> => {
    stopping.abort();
    nodeTls?.close();
    if (sweeper !== undefined) clearInterval(sweeper);
    if (nodeSweeper !== undefined) clearInterval(nodeSweeper);
    auditSweeper?.stop();
    await Promise.all(servers.map((s) => stopServer(s, 5_000)));
    await guard.close();
    await registry?.close();
    dmEngine?.close();
    nodeEngine?.close();
    await ds.close();
    for (const path of boundSockets) await rm(path, { force: true });
  };

  let nodeAddress = config.nodes.listen;
  try {
    let current = loaded;
    let fingerprint = configFingerprint(loaded.config); // of `current`, for status and the instance record
    const startedAtMs = clock.now();
    const startedMono = clock.monotonic();
    const audit = new AuditLog(store, clock);
    // Several daemons over one store record themselves in it (doctor compares them; approvals see
    // adapters subscribed at the other daemons).
    const instances = store.exclusive
      ? undefined
      : new InstanceRegistry({
          store,
          clock,
          logger: log.child({ component: "instances" }),
          self: () => ({
            host: hostname(),
            pid: process.pid,
            version: VERSION,
            startedAtMs,
            configFingerprint: fingerprint,
            nodeListenAddress: nodeAddress,
          }),
          adapterScopes: () => dmEngine?.adapterScopes() ?? [],
        });
    registry = instances;
    const dm = new DmPairing({
      ...(instances === undefined ? {} : { presence: instances }),
      store,
      clock,
      audit,
      logger: log.child({ component: "dm" }),
      policies,
      startedAtMs,
      pendingTtlMs: config.dm.pendingTtlMs,
      maxPending: config.dm.maxPending,
      historyGraceMs: config.dm.historyGraceMs,
      unpairedResponse: config.dm.unpairedResponse,
      replyTemplate: config.dm.replyTemplate,
      maxPendingTotal: config.dm.maxPendingTotal,
      ...(options.approveMissDelays === undefined ? {} : { approveMissDelays: options.approveMissDelays }),
    });
    dmEngine = dm;
    const env: HandlerEnv = { log: log.child({ component: "grpc" }), stopping: stopping.signal };
    const identity = await ds.identity();
    const storeAdmin = await ds.admin(identity);
    const nodes = new NodePairing({
      store,
      clock,
      audit,
      logger: log.child({ component: "nodes" }),
      identity,
      gatewayName: config.nodes.name,
      version: VERSION,
      maxPending: config.nodes.maxPending,
      maxPendingPerPeer: limits.pendingPerPeer,
      autoApproveLoopback: config.nodes.autoApproveLoopback,
      maxActiveInvites: config.nodes.invites.maxActive,
      challenges: {
        perNodePerPeer: limits.challengesPerNodePerPeer,
        perPeer: limits.challengesPerPeer,
        paired: limits.challengesPaired,
        unknown: limits.challengesUnknown,
      },
    });
    nodeEngine = nodes;
    // Follow the store's change feed (other daemons' events) before serving anything.
    await Promise.all([dm.ready(), nodes.ready()]);

    // Both unix sockets cap the long-lived event streams per connection; every service on every
    // listener decodes strictly (malformed protobuf or invalid UTF-8 -> INVALID_ARGUMENT).
    const unixOptions = { ...SERVER_OPTIONS, interceptors: [streamCapInterceptor(config.dm.streamsPerConnection)] };
    const operator = createServer(unixOptions);
    servers.push(operator);
    operator.addService(strictService(DmAccessServiceService), dmAccessHandlers(dm, env));
    operator.addService(strictService(DmPairingServiceService), dmPairingHandlers(dm, env));
    // Several daemons over one store share the auto certificate's key (one SPKI pin for phones).
    const sharedTlsKey =
      ds.kind === "level" ? undefined : async (candidate: string) => (await store.putIfAbsent("meta", NODE_TLS_KEY, candidate)).value as string;
    nodeTls = await startNodeTls(config.nodes, home, nodeListen.host, log.child({ component: "tls" }), sharedTlsKey);
    const tlsView = nodeTls;
    operator.addService(
      strictService(NodeAdminServiceService),
      nodeAdminHandlers(nodes, env, () => tlsView && { ...tlsView.current(), auto: tlsView.auto, listenAddress: nodeAddress }, () => nodeAddress),
    );
    operator.addService(
      strictService(AdminServiceService),
      adminHandlers(storeAdmin, env, {
        audit,
        dm,
        status: () =>
          daemonStatusView(store, {
            version: VERSION,
            startedAtMs,
            uptimeMs: clock.monotonic() - startedMono,
            home,
            configPath: options.configPath ?? "",
            socketPath,
            nodeListenAddress: nodeAddress,
            tls: tlsView?.current(),
            nodeInsecure: current.config.nodes.insecure,
            nodeAutoApproveLoopback: current.config.nodes.autoApproveLoopback,
            configFingerprint: fingerprint,
            instances: instances === undefined ? undefined : { list: () => instances.list(), self: instances.instanceId },
          }),
      }),
    );
    const operatorServices = [
      "pairgate.v1.DmAccessService",
      "pairgate.v1.DmPairingService",
      "pairgate.v1.NodeAdminService",
      "pairgate.v1.AdminService",
    ];
    const operatorHealth = addHealth(operator, operatorServices);
    addReflection(operator, operatorServices);
    // A failed write fences the store (see LevelStore.write): one clear log line, and health says the
    // write services are NOT_SERVING. DmAccessService keeps SERVING (decisions for known senders still
    // work; new pairing requests fail UNAVAILABLE), as do AdminService (status, backup) and the whole
    // node listener (authentication reads durable state; enrolment and token writes fail UNAVAILABLE).
    ds.onStatusChange((s) => {
      log.error("storage write failed; the store is now read-only until pairgate is restarted", {
        cause: s.cause,
        next: "free disk space / fix the disk, then restart pairgate (acknowledged writes are safe)",
      });
      for (const service of ["", "pairgate.v1.DmPairingService", "pairgate.v1.NodeAdminService"]) {
        operatorHealth.setStatus(service, "NOT_SERVING");
      }
    });
    // The adapter socket: DmAccessService (and health, reflection of that one file) only, so an
    // adapter can check senders and deliver notices but never approve, add or revoke anyone.
    let adapterChannels = channelSet(config.adapters.channels);
    const adapterServer = createServer(unixOptions);
    servers.push(adapterServer);
    adapterServer.addService(
      strictService(DmAccessServiceService),
      dmAccessHandlers(dm, { ...env, role: "adapter" }, { allowedChannels: () => adapterChannels }),
    );
    addHealth(adapterServer, ["pairgate.v1.DmAccessService"]);
    addReflection(adapterServer, ["pairgate.v1.DmAccessService"]);

    // We hold the database lock, so a socket left at either path is stale; anything else is refused.
    await listenUnix(operator, socketPath, { mode: 0o600 }, "socketPath", "the operator socket", "<home>/pairgate.sock");
    boundSockets.push(socketPath);
    await listenUnix(adapterServer, adapterSocketPath, { mode: 0o660, gid: adapterGid }, "adapters.socketPath", "the adapter socket", "adapter.sock beside the operator socket");
    boundSockets.push(adapterSocketPath);

    // The node listener: the one port anyone on the network may reach. Its own server options
    // (keepalive, idle, age, stream cap, request deadline) and an in-process TCP guard (per-address
    // connection cap, deadline to complete a first RPC) in front of grpc-js.
    const nodeServer = createServer(guard.serverOptions());
    servers.push(nodeServer);
    nodeServer.addService(
      strictService(NodePairingServiceService),
      nodePairingHandlers(nodes, env, new PeerLimits(limits, clock), {
        proofTimeoutMs: limits.requestTimeoutMs,
        streamsPerNode: limits.connectStreamsPerNode,
        proveConnection: (peer) => guard.proveConnectionOf(peer),
      }),
    );
    addHealth(nodeServer, ["pairgate.v1.NodePairingService"]);
    addReflection(nodeServer, ["pairgate.v1.NodePairingService"]);
    const nodeCredentials = nodeTls?.credentials ?? ServerCredentials.createInsecure();
    const nodePort = await guard.listen(nodeServer, nodeCredentials, nodeListen.host, nodeListen.port).catch((err: unknown) => {
      throw new DaemonStartError(`cannot listen for nodes on ${config.nodes.listen} (nodes.listen): ${String(err)}`, {
        cause: err,
      });
    });
    nodeAddress = `${nodeListen.host.includes(":") ? `[${nodeListen.host}]` : nodeListen.host}:${nodePort}`;
    await instances?.start();

    const startSweepers = (nodeMs: number, dmMs: number): void => {
      if (sweeper !== undefined) clearInterval(sweeper);
      if (nodeSweeper !== undefined) clearInterval(nodeSweeper);
      nodeSweeper = setInterval(() => {
        if (!ds.status().writable) return;
        nodes.sweepExpired().catch((err: unknown) => log.error("node expiry sweep failed", { cause: String(err) }));
      }, nodeMs);
      nodeSweeper.unref();
      sweeper = setInterval(() => {
        if (!ds.status().writable) return;
        dm.sweepExpired().catch((err: unknown) => log.error("expiry sweep failed", { cause: String(err) }));
      }, dmMs);
      sweeper.unref();
    };
    startSweepers(config.nodes.sweepIntervalMs, config.dm.sweepIntervalMs);
    auditSweeper = startAuditSweeper(audit, () => ds.status().writable, config.audit, log.child({ component: "audit" }));

    const reload = (): ReloadResult => {
      const path = options.configPath;
      if (path === undefined) {
        log.warn("config reload: no config file (running on the embedded defaults); nothing to reload", {
          hint: `create ${join(home, "config.json")} with \`pairgate init\` and restart`,
        });
        return { ok: false, error: "no config file" };
      }
      let next: LoadedConfig;
      try {
        next = loadConfig(path);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        log.error("config reload failed; the running config is unchanged", { config: path, error });
        void audit.append({ action: "config.reload_failed", role: "daemon", detail: error.split("\n")[0]?.slice(0, 200) ?? "" }, log);
        return { ok: false, error };
      }
      const restartOnly = restartRequiredChanges(current.config, next.config);
      // Everything below is synchronous: no call sees half of the old and half of the new config.
      dm.reconfigure({
        policies: next.policies,
        pendingTtlMs: next.config.dm.pendingTtlMs,
        maxPending: next.config.dm.maxPending,
        historyGraceMs: next.config.dm.historyGraceMs,
        unpairedResponse: next.config.dm.unpairedResponse,
        replyTemplate: next.config.dm.replyTemplate,
        maxPendingTotal: next.config.dm.maxPendingTotal,
      });
      adapterChannels = channelSet(next.config.adapters.channels);
      nodes.reconfigure({ maxPending: next.config.nodes.maxPending, autoApproveLoopback: next.config.nodes.autoApproveLoopback });
      ownLog?.setLevel(options.logLevel ?? next.config.logLevel);
      if (next.config.dm.sweepIntervalMs !== current.config.dm.sweepIntervalMs || next.config.nodes.sweepIntervalMs !== current.config.nodes.sweepIntervalMs) {
        startSweepers(next.config.nodes.sweepIntervalMs, next.config.dm.sweepIntervalMs);
      }
      current = next;
      fingerprint = configFingerprint(next.config);
      instances?.changed(); // its config fingerprint
      const recorded = audit.append({ action: "config.reload", role: "daemon", detail: restartOnly.length === 0 ? "applied" : `applied; restart needed for ${restartOnly.join(",")}` }, log);
      auditSweeper?.reconfigure(next.config.audit.maxAgeDays, next.config.audit.maxRecords, recorded);
      log.info("config reloaded", {
        config: path,
        logLevel: options.logLevel ?? next.config.logLevel,
        ...(restartOnly.length === 0 ? {} : { notApplied: restartOnly.join(","), hint: "these keys take effect after a restart" }),
      });
      return { ok: true, source: path };
    };

    log.info("pairgate daemon started", {
      version: VERSION,
      home,
      socket: socketPath,
      adapterSocket: adapterSocketPath,
      nodes: nodeAddress,
      nodesTls: config.nodes.tls !== undefined,
      storage: ds.kind,
      config: loaded.source,
    });
    let stopped: Promise<void> | undefined;
    return {
      socketPath,
      adapterSocketPath,
      dm,
      nodeAddress,
      nodeTls: config.nodes.tls !== undefined,
      nodes,
      reload,
      storeState: () => storeAdmin.state(),
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
