import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PostgresStore } from "../src/storage/postgres-store";
import { bulkLoadShared } from "./bulk-load";
import { INSTALL_HINT, postgresBinDir, startPostgresCluster } from "./postgres-cluster";
import type { Workload } from "./runner";
import { freePort, log, startPairgate, stopProcess } from "./servers";

/** The PostgreSQL phase of `make bench` (issue 12): two daemons over one throwaway cluster. */
export interface PostgresPhase {
  workloads: Workload[];
  /** The daemons serving each workload (their CPU is summed). */
  pids: Map<string, number[]>;
  /** CPU used by the cluster's processes so far, µs. */
  storeCpuUs: () => number;
  /** Stops the daemons and the cluster. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL cluster (Debian `postgresql`), preloads `senders` approved senders and
 * `nodes` paired nodes into it through the store port (the records the daemon would have written),
 * and starts two daemons on it, each with its own home. Its workloads: CheckInbound allowed and
 * unknown and the handshake on daemon A, and CheckInbound allowed spread over A and B. Returns
 * undefined, with a loud line naming the install command, when PostgreSQL is not installed.
 */
export async function startPostgresPhase(tmp: string, senders: number, nodes: number): Promise<PostgresPhase | undefined> {
  if (postgresBinDir() === undefined) {
    log(`!!! PostgreSQL is not installed: the PostgreSQL rows are skipped. Install it with: ${INSTALL_HINT}`);
    return undefined;
  }
  const { cluster, stop: stopCluster } = await startPostgresCluster();
  const started: Array<Awaited<ReturnType<typeof startPairgate>>> = [];
  try {
    await cluster.admin("CREATE DATABASE bench");
    const url = cluster.url("bench");
    const store = await PostgresStore.open({ url });
    const preload = await bulkLoadShared(store, senders, nodes).finally(() => store.close());
    log(`PostgreSQL ${cluster.port}: ${senders} senders / ${nodes} nodes preloaded in ${preload.ms} ms`);
    for (const name of ["pg-a", "pg-b"]) {
      const home = join(tmp, name);
      mkdirSync(home, { mode: 0o700 });
      started.push(await startPairgate(home, await freePort(), undefined, undefined, url));
    }
    const [a, b] = started as [(typeof started)[0], (typeof started)[0]];
    const label = "1k PostgreSQL";
    const dm = { store: label, baseline: "echo-unix", target: `unix:${a.socketPath}`, callsPerOp: 1 };
    const workloads: Workload[] = [
      { ...dm, id: "allowed@pg", workload: "CheckInbound allowed", kind: "allowed", senders },
      { ...dm, id: "unknown@pg", workload: "CheckInbound unknown", kind: "unknown" },
      {
        id: "handshake@pg",
        workload: "handshake (challenge+auth)",
        store: label,
        baseline: "echo-tcp",
        kind: "handshake",
        target: a.nodeTarget,
        callsPerOp: 2,
        nodes,
        gatewayId: preload.gatewayId,
      },
      {
        ...dm,
        id: "allowed@pg2",
        workload: "CheckInbound allowed",
        store: `${label}, 2 daemons`,
        kind: "allowed",
        senders,
        targets: [`unix:${a.socketPath}`, `unix:${b.socketPath}`],
      },
    ];
    const pids = new Map<string, number[]>(workloads.map((w) => [w.id, w.id === "allowed@pg2" ? [a.pid, b.pid] : [a.pid]]));
    return {
      workloads,
      pids,
      storeCpuUs: () => cluster.cpuUs(),
      stop: async () => {
        for (const d of started) await stopProcess(d.child);
        stopCluster();
      },
    };
  } catch (err) {
    for (const d of started) await stopProcess(d.child);
    stopCluster();
    throw err;
  }
}
