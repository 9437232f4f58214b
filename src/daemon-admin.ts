import type { AuditLog } from "./domain/audit-log";
import type { InstanceRecord } from "./domain/instance-registry";
import type { Logger } from "./domain/logger";
import type { SharedStore } from "./domain/shared-store";
import type { DaemonStatusView } from "./transport/grpc/admin-handlers";
import type { CertificateInfo } from "./transport/grpc/self-signed-cert";

/** How often the audit trail's retention is applied (besides at start and on every reload). */
export const AUDIT_SWEEP_INTERVAL_MS = 10 * 60_000;
const DAY_MS = 24 * 3600_000;

/** The daemon's facts GetDaemonStatus reports, before the store counts are added. */
export interface DaemonFacts {
  version: string;
  startedAtMs: number;
  uptimeMs: number;
  home: string;
  configPath: string;
  socketPath: string;
  nodeListenAddress: string;
  tls: CertificateInfo | undefined;
  nodeInsecure: boolean;
  nodeAutoApproveLoopback: boolean;
  configFingerprint: string;
  /** The daemons of a shared store (undefined on the embedded store). */
  instances: { list(): Promise<InstanceRecord[]>; self: string } | undefined;
}

/** Counts the entries of one collection (keys only matter). */
async function count(store: SharedStore, name: "nodes" | "nodeRequests" | "audit", live?: (v: unknown) => boolean): Promise<number> {
  let n = 0;
  for await (const [, v] of store.entries(name, {})) if (live === undefined || live(v)) n++;
  return n;
}

/** GetDaemonStatus's view: the facts plus node and audit counts read from the store. Throws UnavailableError. */
export async function daemonStatusView(store: SharedStore, facts: DaemonFacts): Promise<DaemonStatusView> {
  const now = Date.now();
  const [pendingNodes, pairedNodes, auditRecords, instances] = await Promise.all([
    count(store, "nodeRequests", (r) => now < (r as { expiresAtMs: number }).expiresAtMs),
    count(store, "nodes"),
    count(store, "audit"),
    facts.instances?.list() ?? [],
  ]);
  return {
    version: facts.version,
    startedAtMs: facts.startedAtMs,
    uptimeMs: Math.round(facts.uptimeMs),
    pid: process.pid,
    home: facts.home,
    configPath: facts.configPath,
    socketPath: facts.socketPath,
    nodeListenAddress: facts.nodeListenAddress,
    nodeTls: facts.tls !== undefined,
    nodeTlsSpkiSha256: facts.tls?.spkiSha256 ?? Buffer.alloc(0),
    nodeTlsNotAfterMs: facts.tls?.notAfterMs ?? 0,
    nodeInsecure: facts.nodeInsecure,
    nodeAutoApproveLoopback: facts.nodeAutoApproveLoopback,
    pendingNodes,
    pairedNodes,
    auditRecords,
    configFingerprint: facts.configFingerprint,
    instances: instances.map((r) => ({
      instanceId: r.instanceId,
      host: r.host,
      pid: r.pid,
      version: r.version,
      startedAtMs: r.startedAtMs,
      heartbeatAtMs: r.heartbeatAtMs,
      configFingerprint: r.configFingerprint,
      nodeListenAddress: r.nodeListenAddress,
      adapterAccounts: r.adapterScopes.map(([channel, accountId]) => `${channel}/${accountId}`),
      thisDaemon: r.instanceId === facts.instances?.self,
    })),
  };
}

/** The running retention sweeper; `reconfigure` sweeps with the new limits once `after` settles. */
export interface AuditSweeper {
  stop(): void;
  sweepNow(): Promise<void>;
  reconfigure(maxAgeDays: number, maxRecords: number, after?: Promise<unknown>): void;
}

/**
 * Applies the audit retention (`audit.maxAgeDays`, `audit.maxRecords`) now and every
 * {@link AUDIT_SWEEP_INTERVAL_MS}, skipping while the store is fenced; `reconfigure` (config reload)
 * swaps the limits and sweeps at once. Failures are logged, never thrown.
 */
export function startAuditSweeper(
  audit: AuditLog,
  writable: () => boolean,
  limits: { maxAgeDays: number; maxRecords: number },
  log: Logger,
): AuditSweeper {
  let current = { ...limits };
  let running: Promise<void> | undefined;
  const sweepNow = (): Promise<void> => {
    if (!writable()) return Promise.resolve();
    running ??= audit
      .sweep(current.maxAgeDays * DAY_MS, current.maxRecords)
      .then((n) => {
        if (n > 0) log.info("audit records past retention deleted", { deleted: n, maxAgeDays: current.maxAgeDays, maxRecords: current.maxRecords });
      })
      .catch((err: unknown) => log.error("audit retention sweep failed", { cause: String(err) }))
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void sweepNow(), AUDIT_SWEEP_INTERVAL_MS);
  timer.unref();
  void sweepNow();
  return {
    stop: () => clearInterval(timer),
    sweepNow,
    reconfigure: (maxAgeDays, maxRecords, after = Promise.resolve()) => {
      current = { maxAgeDays, maxRecords };
      void after.then(() => running).then(sweepNow);
    },
  };
}
