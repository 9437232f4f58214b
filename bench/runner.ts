import { type ChildProcess, fork, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { FromWorker, ToWorker, WorkerResult, WorkerSpec, WorkloadKind } from "./load-worker";
import { processCpuUs, statusKb } from "./proc-stats";
import { percentile, type Row } from "./report";
import type { BenchOptions } from "./run";
import { CLI, log, track } from "./servers";

/** One measured run of a workload (forked load-generator workers), and CLI wall-time runs. */

const WORKER = join(__dirname, "load-worker.js");

/** A workload to run: the worker spec minus per-worker fields, and how to label it. */
export interface Workload {
  id: string;
  workload: string;
  store: string;
  baseline: string;
  kind: WorkloadKind;
  target: string;
  /** Several daemons: worker i drives targets[i % length] (target is then the first). */
  targets?: string[];
  callsPerOp: number;
  senders?: number;
  nodes?: number;
  gatewayId?: string;
  /** Paced: operations per second over all workers (open loop, see load-loop.ts); absent = closed loop. */
  ratePerS?: number;
}

function message(child: ChildProcess, type: FromWorker["type"]): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker): void => {
      if (m.type === type || m.type === "failed") {
        child.off("message", onMessage);
        child.off("exit", onExit);
        if (m.type === "failed") reject(new Error(`load worker failed: ${m.error}`));
        else resolve(m);
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`load worker exited with ${String(code)}`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/**
 * Runs `w` at `concurrency` (warm-up, then the measured run) and returns its row: server CPU is summed
 * over `serverPids` (every daemon serving it); `storeCpuUs` (PostgreSQL's processes) is reported apart.
 */
export async function runWorkload(
  w: Workload,
  concurrency: number,
  serverPids: readonly number[],
  options: BenchOptions,
  storeCpuUs?: () => number,
): Promise<Row> {
  const serverPid = serverPids[0]!;
  const cpuOfServers = (): number => serverPids.reduce((sum, pid) => sum + processCpuUs(pid), 0);
  const n = Math.max(1, Math.min(options.workers, concurrency));
  const workers = Array.from({ length: n }, () => track(fork(WORKER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })));
  try {
    const ready = workers.map((c) => message(c, "ready"));
    workers.forEach((c, i) => {
      const spec: WorkerSpec = {
        kind: w.kind,
        target: w.targets === undefined ? w.target : w.targets[i % w.targets.length]!,
        worker: i,
        concurrency: Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0),
        ...(w.senders === undefined ? {} : { senders: w.senders }),
        ...(w.nodes === undefined ? {} : { nodes: w.nodes }),
        ...(w.gatewayId === undefined ? {} : { gatewayId: w.gatewayId }),
        ...(w.ratePerS === undefined ? {} : { ratePerS: w.ratePerS / n }),
      };
      c.send({ type: "init", spec } satisfies ToWorker);
    });
    await Promise.all(ready);
    const runAll = async (ms: number): Promise<WorkerResult[]> => {
      const done = workers.map((c) => message(c, "done"));
      workers.forEach((c) => c.send({ type: "run", ms } satisfies ToWorker));
      return (await Promise.all(done)).map((m) => (m as Extract<FromWorker, { type: "done" }>).result);
    };
    await runAll(options.warmupS * 1000);
    const cpu0 = cpuOfServers();
    const store0 = storeCpuUs?.() ?? 0;
    const t0 = performance.now();
    const results = await runAll(options.durationS * 1000);
    const wallS = (performance.now() - t0) / 1000;
    const serverCpuUs = cpuOfServers() - cpu0;
    const storeUs = storeCpuUs === undefined ? Number.NaN : storeCpuUs() - store0;

    const latencies = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
    const ops = latencies.length;
    const outcomes: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
    const errors = results.reduce((s, r) => s + r.errors, 0);
    const row: Row = {
      id: `${w.id}/c${concurrency}`,
      workload: w.workload,
      store: w.store,
      concurrency,
      baseline: `${w.baseline}/c${concurrency}`,
      durationS: wallS,
      ops,
      callsPerOp: w.callsPerOp,
      errors,
      firstError: results.find((r) => r.firstError !== "")?.firstError ?? "",
      opsPerS: ops / wallS,
      p50Ms: percentile(latencies, 50) / 1000,
      p99Ms: percentile(latencies, 99) / 1000,
      serverCpuUsPerOp: ops > 0 ? serverCpuUs / ops : Number.NaN,
      serverCores: serverCpuUs / 1e6 / wallS,
      storeCpuUsPerOp: ops > 0 ? storeUs / ops : Number.NaN,
      cpuRatio: Number.NaN,
      rateRatio: Number.NaN,
      clientCores: results.reduce((s, r) => s + r.cpuUs, 0) / 1e6 / wallS,
      clientProcesses: n,
      serverPeakRssKb: statusKb(serverPid, "VmHWM"),
      outcomes,
    };
    log(
      `  ${row.id.padEnd(24)} ${row.opsPerS.toFixed(0).padStart(6)} op/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  ` +
        `server ${row.serverCpuUsPerOp.toFixed(1)} µs/op (${row.serverCores.toFixed(2)} cores)` +
        (Number.isNaN(row.storeCpuUsPerOp) ? "" : `  PostgreSQL ${row.storeCpuUsPerOp.toFixed(1)} µs/op`) +
        `  client ${row.clientCores.toFixed(2)} cores` +
        (errors > 0 ? `  ERRORS ${errors}: ${row.firstError}` : ""),
    );
    return row;
  } finally {
    await Promise.all(
      workers.map(async (c) => {
        if (c.connected) c.send({ type: "exit" } satisfies ToWorker);
        const exited = new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : c.once("exit", () => resolve())));
        const timer = setTimeout(() => c.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** A CLI run taking longer than this is killed and reported as failed. */
const CLI_TIMEOUT_MS = 10_000;

/** The wall time of a CLI command (median of its runs) and whether it worked. */
export type CliTiming = ReturnType<typeof timeCli>;


/** Wall time of one CLI invocation against the running daemon, ms (median of `runs`). */
export function timeCli(home: string, args: readonly string[], runs: number): { ms: number; runsMs: number[]; ok: boolean; note: string } {
  const runsMs: number[] = [];
  let ok = true;
  let note = "";
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, PAIRGATE_HOME: home }, encoding: "utf8", timeout: CLI_TIMEOUT_MS });
    runsMs.push(performance.now() - t0);
    if (r.status === null) {
      ok = false;
      note = `killed after ${CLI_TIMEOUT_MS / 1000} s (${String(r.signal)})`;
      break;
    } else if (r.status !== 0) {
      ok = false;
      note = (r.stderr || r.stdout).trim().split("\n")[0] ?? "";
    } else if (i === 0) {
      note = `${r.stdout.trim().split("\n").length} lines of output`;
    }
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)]!, runsMs, ok, note };
}

export function cliHasCommand(name: string): boolean {
  const r = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
  return new RegExp(`^\\s+${name}\\b`, "m").test(r.stdout);
}
