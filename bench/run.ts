import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { bulkLoad, type BulkLoadResult } from "./bulk-load";
import { measureCliStartup, type StartupResult } from "./cli-startup";
import type { FromWorker, ToWorker, WorkerResult, WorkerSpec, WorkloadKind } from "./load-worker";
import { UNKNOWN_ACCOUNTS, UNKNOWN_REPEAT_SHARE } from "./load-worker";
import { clockTicks, processCpuUs, statusKb } from "./proc-stats";
import { formatGoals, formatTable, type GoalCheck, percentile, ratioGoal, type Row, spreadGoal } from "./report";
import { pairOrder, RoundBook } from "./rounds";
import { reconnectStorm, type StormResult } from "./storm";

/**
 * `make bench` (node dist/bench/run.js): the pairgate benchmark. Starts a bare grpc-js echo server and
 * the daemon (each a separate process), drives them with the same Node load generator (forked worker
 * processes), and prints one table plus the goals of issue 4. See bench/README.md.
 *
 * Options (flags or environment): --smoke / BENCH_SMOKE=1, --duration=S / BENCH_DURATION,
 * --warmup=S / BENCH_WARMUP, --workers=N / BENCH_WORKERS, --senders=N / BENCH_SENDERS,
 * --nodes=N / BENCH_NODES, --out=FILE / BENCH_OUT, --only=echo,small,big,cli / BENCH_ONLY (phases to run; cli = start-up of
 * `pairgate --version` and `pairgate pairing list telegram` vs bare `node -e 0`, BENCH_CLI_ROUNDS rounds, default 15),
 * --workloads=REGEX / BENCH_WORKLOADS (run only workloads whose id matches, e.g. "allowed"),
 * --profile=DIR / BENCH_PROFILE (run the daemon with --cpu-prof into DIR), --keep (keep the temp state dirs).
 */

const ROOT = join(__dirname, "..", "..");
/** The built CLI next to this build of the bench (dist/src/cli/main.js after `make build`). */
const CLI = join(__dirname, "..", "src", "cli", "main.js");
const WORKER = join(__dirname, "load-worker.js");
const ECHO_SERVER = join(__dirname, "echo-server.js");
/** The "small" store every workload runs on first; the scale runs compare with it. */
const SMALL_SENDERS = 1_000;
const SMALL_NODES = 1_000;
/** Nodes in the reconnect storm (at most the big store's node count). */
const STORM_NODES = 10_000;

/** Settings of one bench run. */
export interface BenchOptions {
  smoke: boolean;
  durationS: number;
  warmupS: number;
  /** Rounds: every workload runs once per round, next to its baseline; tables show medians. */
  rounds: number;
  /** Concurrencies to run (calls in flight). @default [1, 50] */
  concurrencies: number[];
  workers: number;
  senders: number;
  nodes: number;
  out: string;
  keep: boolean;
  /** Phases to run: "echo" (baseline), "small" (every workload on 1k), "big" (the scale runs). */
  phases: ReadonlySet<string>;
  /** Only workloads whose id matches this run. */
  workloads: RegExp;
  /** Directory for the daemon's --cpu-prof output, if profiling. */
  profileDir: string | undefined;
  /**
   * Another build's CLI (e.g. an older commit's dist/src/cli/main.js): its daemon runs the small-store
   * workloads in the same rounds, and the goals compare this build with it round by round.
   */
  baselineCli: string | undefined;
}

/** Reads options from argv flags, then environment variables, then defaults. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flag = (name: string): string | undefined => {
    const hit = argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (hit === undefined) return undefined;
    return hit.includes("=") ? hit.slice(hit.indexOf("=") + 1) : "1";
  };
  const value = (name: string, envName: string): string | undefined => flag(name) ?? env[envName];
  const num = (name: string, envName: string, fallback: number): number => {
    const raw = value(name, envName);
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} / ${envName} must be a positive number, got "${raw}"`);
    return n;
  };
  const smoke = (value("smoke", "BENCH_SMOKE") ?? "0") !== "0";
  // Only a complete, default run may replace the committed bench/results/latest.json.
  const partial =
    ["only", "workloads", "profile", "duration", "warmup", "rounds", "concurrency", "workers", "senders", "nodes", "baseline-cli"].some((n) => flag(n) !== undefined) ||
    ["BENCH_ONLY", "BENCH_WORKLOADS", "BENCH_PROFILE", "BENCH_DURATION", "BENCH_WARMUP", "BENCH_ROUNDS", "BENCH_CONCURRENCY", "BENCH_WORKERS", "BENCH_SENDERS", "BENCH_NODES", "BENCH_DAEMON_NODE_FLAGS", "BENCH_BASELINE_CLI"].some(
      (n) => (env[n] ?? "") !== "",
    );
  return {
    smoke,
    durationS: num("duration", "BENCH_DURATION", smoke ? 0.5 : 2.5),
    warmupS: num("warmup", "BENCH_WARMUP", smoke ? 0.2 : 0.5),
    rounds: Math.round(num("rounds", "BENCH_ROUNDS", smoke ? 2 : 5)),
    concurrencies: (value("concurrency", "BENCH_CONCURRENCY") ?? "1,50").split(",").map((c) => Math.round(Number(c))).filter((c) => c > 0),
    workers: Math.round(num("workers", "BENCH_WORKERS", 2)),
    senders: Math.round(num("senders", "BENCH_SENDERS", smoke ? 20_000 : 1_000_000)),
    nodes: Math.round(num("nodes", "BENCH_NODES", smoke ? 2_000 : 100_000)),
    out: value("out", "BENCH_OUT") ?? join(ROOT, "bench", "results", smoke ? "smoke.json" : partial ? "partial.json" : "latest.json"),
    keep: flag("keep") !== undefined,
    workloads: new RegExp(value("workloads", "BENCH_WORKLOADS") ?? ""),
    profileDir: value("profile", "BENCH_PROFILE"),
    baselineCli: value("baseline-cli", "BENCH_BASELINE_CLI"),
    phases: new Set((value("only", "BENCH_ONLY") ?? "echo,small,big,cli").split(",").map((p) => p.trim())),
  };
}

const children = new Set<ChildProcess>();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => void process.stderr.write(s + "\n");

function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** One grpc.health.v1.Health/Check on the unix socket; true when the daemon answers SERVING. */
function healthServing(socketPath: string): Promise<boolean> {
  const client = new Client(`unix:${socketPath}`, credentials.createInsecure());
  return new Promise<boolean>((resolve) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      new Metadata(),
      { deadline: Date.now() + 1_000 },
      // HealthCheckResponse { status = 1 (SERVING) } encodes as 08 01.
      (err, res) => resolve(err === null && res !== undefined && res[0] === 0x08 && res[1] === 0x01),
    );
  }).finally(() => client.close());
}

interface RunningServer {
  child: ChildProcess;
  pid: number;
  /** ms from spawn() to health SERVING (daemon) or bound (echo). */
  startMs: number;
}

async function startEcho(socketPath: string): Promise<RunningServer & { tcpPort: number }> {
  const t0 = performance.now();
  const child = track(spawn(process.execPath, [ECHO_SERVER, socketPath], { stdio: ["ignore", "pipe", "inherit"] }));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`echo server exited with ${String(code)}`)));
  });
  const { tcpPort } = JSON.parse(line) as { tcpPort: number };
  return { child, pid: child.pid!, startMs: performance.now() - t0, tcpPort };
}

/** Extra `node` flags for the daemon process only (BENCH_DAEMON_NODE_FLAGS, space separated), e.g. V8 heap limits. */
function daemonNodeFlags(): string[] {
  return (process.env.BENCH_DAEMON_NODE_FLAGS ?? "").split(/\s+/).filter((f) => f !== "");
}

async function startPairgate(
  home: string,
  nodePort: number,
  profileDir?: string,
  baselineCli?: string,
): Promise<RunningServer & { socketPath: string; nodeTarget: string }> {
  const configPath = join(home, "bench-config.json");
  // The load generator is one address driving thousands of calls a second: lift the per-peer quotas
  // (they still run on every call, so their cost is measured) and keep the echo server's stream cap.
  const limits = {
    rpcPerSecond: 1_000_000,
    rpcBurst: 1_000_000,
    challengesPerPeer: 100_000,
    challengesPerNodePerPeer: 64,
    connectionsPerPeer: 100_000,
    connectStreamsPerPeer: 100_000,
    streamsPerConnection: 128,
  };
  // A baseline build may predate `nodes.limits` (and the config is strict): it gets the listen address only.
  writeFileSync(configPath, JSON.stringify({ nodes: baselineCli === undefined ? { listen: `127.0.0.1:${nodePort}`, limits } : { listen: `127.0.0.1:${nodePort}` } }));
  const socketPath = join(home, "pairgate.sock");
  const logFd = openSync(join(home, "daemon.log"), "a");
  const t0 = performance.now();
  const child = track(
    spawn(process.execPath, [...daemonNodeFlags(), ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]), baselineCli ?? CLI, "serve", "--config", configPath], {
      env: { ...process.env, PAIRGATE_HOME: home },
      stdio: ["ignore", logFd, logFd],
    }),
  );
  closeSync(logFd);
  const deadline = t0 + 60_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}; see ${join(home, "daemon.log")}`);
    if (existsSync(socketPath) && (await healthServing(socketPath))) {
      return { child, pid: child.pid!, startMs: performance.now() - t0, socketPath, nodeTarget: `127.0.0.1:${nodePort}` };
    }
    await sleep(5);
  }
  throw new Error("daemon did not become SERVING within 60 s");
}

/** A workload to run: the worker spec minus per-worker fields, and how to label it. */
interface Workload {
  id: string;
  workload: string;
  store: string;
  baseline: string;
  kind: WorkloadKind;
  target: string;
  callsPerOp: number;
  senders?: number;
  nodes?: number;
  gatewayId?: string;
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

async function runWorkload(w: Workload, concurrency: number, serverPid: number, options: BenchOptions): Promise<Row> {
  const n = Math.max(1, Math.min(options.workers, concurrency));
  const workers = Array.from({ length: n }, () => track(fork(WORKER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })));
  try {
    const ready = workers.map((c) => message(c, "ready"));
    workers.forEach((c, i) => {
      const spec: WorkerSpec = {
        kind: w.kind,
        target: w.target,
        worker: i,
        concurrency: Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0),
        ...(w.senders === undefined ? {} : { senders: w.senders }),
        ...(w.nodes === undefined ? {} : { nodes: w.nodes }),
        ...(w.gatewayId === undefined ? {} : { gatewayId: w.gatewayId }),
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
    const cpu0 = processCpuUs(serverPid);
    const t0 = performance.now();
    const results = await runAll(options.durationS * 1000);
    const wallS = (performance.now() - t0) / 1000;
    const serverCpuUs = processCpuUs(serverPid) - cpu0;

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
      cpuRatio: Number.NaN,
      rateRatio: Number.NaN,
      clientCores: results.reduce((s, r) => s + r.cpuUs, 0) / 1e6 / wallS,
      clientProcesses: n,
      serverPeakRssKb: statusKb(serverPid, "VmHWM"),
      outcomes,
    };
    log(
      `  ${row.id.padEnd(24)} ${row.opsPerS.toFixed(0).padStart(6)} op/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  ` +
        `server ${row.serverCpuUsPerOp.toFixed(1)} µs/op (${row.serverCores.toFixed(2)} cores)  client ${row.clientCores.toFixed(2)} cores` +
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

/** Wall time of one CLI invocation against the running daemon, ms (median of `runs`). */
function timeCli(home: string, args: readonly string[], runs: number): { ms: number; runsMs: number[]; ok: boolean; note: string } {
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

function cliHasCommand(name: string): boolean {
  const r = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
  return new RegExp(`^\\s+${name}\\b`, "m").test(r.stdout);
}

function pythonGrpc(): string | undefined {
  const r = spawnSync("/usr/bin/python3", ["-c", "import grpc; print(grpc.__version__)"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function machine(): Record<string, string | number> {
  const grpcJs = (JSON.parse(readFileSync(join(ROOT, "node_modules", "@grpc", "grpc-js", "package.json"), "utf8")) as { version: string }).version;
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    node: process.version,
    grpcJs,
    clkTck: clockTicks(),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const started = performance.now();
  const facts = machine();
  const python = pythonGrpc();
  const generator = `node ${process.version} + @grpc/grpc-js ${String(facts.grpcJs)}, up to ${options.workers} worker processes`;
  log(`pairgate bench${options.smoke ? " (smoke)" : ""}: ${String(facts.nproc)} × ${String(facts.cpuModel)}, node ${process.version}, CLK_TCK ${clockTicks()}`);
  log(`load generator: ${generator}`);
  log(
    python === undefined
      ? "python3-grpcio: not found (/usr/bin/python3 -c 'import grpc' failed); using the Node load generator only"
      : `python3-grpcio ${python} found; this harness drives everything with the Node load generator (see bench/README.md)`,
  );
  log(`${options.rounds} rounds; ${options.durationS} s per run after ${options.warmupS} s warm-up; scale ${options.senders} senders / ${options.nodes} nodes`);

  const tmp = mkdtempSync(join(tmpdir(), "pgb-"));
  const rows: Row[] = [];
  const book = new RoundBook();
  const concurrencies = options.concurrencies;
  let preloadSmall: BulkLoadResult | undefined;
  let preloadBig: BulkLoadResult | undefined;
  const scale: Record<string, unknown> = {};
  const bigLabel = `${label(options.senders)}/${label(options.nodes)}`;
  let cliAllowed: CliTiming | undefined;
  let cliNodes: CliTiming | undefined;
  let startup: StartupResult | undefined;
  try {
    // 1. Start every server first, so the rounds below can alternate between them: the bare echo server
    //    over a unix socket (as the operator API) and TCP (as the node API), the daemon on a small store,
    //    the daemon on the big store.
    const baselines = new Map<string, Workload>();
    const pidOf = new Map<string, number>();
    let echo: (RunningServer & { tcpPort: number }) | undefined;
    if (options.phases.has("echo")) {
      echo = await startEcho(join(tmp, "echo.sock"));
      const echoUnix: Workload = { id: "echo-unix", workload: "echo (unix socket)", store: "-", baseline: "echo-unix", kind: "echo", target: `unix:${join(tmp, "echo.sock")}`, callsPerOp: 1 };
      const echoTcp: Workload = { ...echoUnix, id: "echo-tcp", workload: "echo (tcp)", baseline: "echo-tcp", target: `127.0.0.1:${echo.tcpPort}` };
      for (const w of [echoUnix, echoTcp]) {
        baselines.set(w.id, w);
        pidOf.set(w.id, echo.pid);
      }
    }
    const daemonWorkloads: Workload[] = [];
    const baseWorkloads: Workload[] = [];
    let base: Awaited<ReturnType<typeof startPairgate>> | undefined;
    let small: Awaited<ReturnType<typeof startPairgate>> | undefined;
    if (options.phases.has("small")) {
      const smallHome = join(tmp, "small");
      mkdirSync(smallHome, { mode: 0o700 });
      preloadSmall = await bulkLoad(smallHome, SMALL_SENDERS, SMALL_NODES);
      log(`daemon, ${SMALL_SENDERS} senders / ${SMALL_NODES} nodes (preloaded in ${preloadSmall.ms} ms)`);
      small = await startPairgate(smallHome, await freePort(), options.profileDir);
      const dmSmall = { store: "1k", baseline: "echo-unix", target: `unix:${small.socketPath}`, callsPerOp: 1 };
      const nodeSmall = { store: "1k", baseline: "echo-tcp", target: small.nodeTarget, nodes: SMALL_NODES, gatewayId: preloadSmall.gatewayId };
      daemonWorkloads.push(
        { ...dmSmall, id: "allowed@1k", workload: "CheckInbound allowed", kind: "allowed", senders: SMALL_SENDERS },
        { ...dmSmall, id: "unknown", workload: "CheckInbound unknown", kind: "unknown" },
        { ...nodeSmall, id: "handshake@1k", workload: "handshake (challenge+auth)", kind: "handshake", callsPerOp: 2 },
        { ...nodeSmall, id: "heartbeat", workload: "Heartbeat", kind: "heartbeat", callsPerOp: 1 },
        { ...nodeSmall, id: "connect@1k", workload: "Connect session (1 stream)", kind: "connect", callsPerOp: 1 },
      );
      for (const w of daemonWorkloads) pidOf.set(w.id, small.pid);
      scale.smallStartToServingMs = small.startMs;
      if (options.baselineCli !== undefined) {
        // The same small store, served by the baseline build: its workloads run in the same rounds.
        const baseHome = join(tmp, "base");
        mkdirSync(baseHome, { mode: 0o700 });
        const preloadBase = await bulkLoad(baseHome, SMALL_SENDERS, SMALL_NODES);
        base = await startPairgate(baseHome, await freePort(), undefined, options.baselineCli);
        log(`baseline daemon (${options.baselineCli}) on its own 1k store`);
        const known = new Set(["allowed@1k", "handshake@1k", "heartbeat"]);
        for (const w of daemonWorkloads.filter((x) => known.has(x.id))) {
          const target = w.baseline === "echo-unix" ? `unix:${base.socketPath}` : base.nodeTarget;
          const bw: Workload = { ...w, id: `${w.id}@base`, store: "1k (baseline build)", target, ...(w.gatewayId === undefined ? {} : { gatewayId: preloadBase.gatewayId }) };
          pidOf.set(bw.id, base.pid);
          baseWorkloads.push(bw);
        }
      }
    }
    let big: Awaited<ReturnType<typeof startPairgate>> | undefined;
    let bigHome = "";
    if (options.phases.has("big")) {
      bigHome = join(tmp, "big");
      mkdirSync(bigHome, { mode: 0o700 });
      log(`preloading ${options.senders} senders and ${options.nodes} nodes...`);
      preloadBig = await bulkLoad(bigHome, options.senders, options.nodes);
      log(`  preloaded in ${(preloadBig.ms / 1000).toFixed(1)} s`);
      big = await startPairgate(bigHome, await freePort(), options.profileDir);
      scale.bigIdleRssKb = statusKb(big.pid, "VmRSS");
      log(`daemon on the big store: start to SERVING ${big.startMs.toFixed(0)} ms, idle RSS ${(Number(scale.bigIdleRssKb) / 1024).toFixed(0)} MB`);
      const bigWorkloads: Workload[] = [
        { id: "allowed@big", workload: "CheckInbound allowed", store: bigLabel, baseline: "echo-unix", kind: "allowed", target: `unix:${big.socketPath}`, callsPerOp: 1, senders: options.senders },
        { id: "handshake@big", workload: "handshake (challenge+auth)", store: bigLabel, baseline: "echo-tcp", kind: "handshake", target: big.nodeTarget, callsPerOp: 2, nodes: options.nodes, gatewayId: preloadBig.gatewayId },
      ];
      for (const w of bigWorkloads) pidOf.set(w.id, big.pid);
      daemonWorkloads.push(...bigWorkloads);
      scale.bigStartToServingMs = big.startMs;
    }

    // 2. Rounds: each daemon workload right next to its echo baseline (alternating which goes first),
    //    every workload once per round; ratios are taken within a round and summarised by their median.
    const chosen = [...daemonWorkloads, ...baseWorkloads].filter((w) => options.workloads.test(w.id));
    const echoOnly = chosen.length === 0 ? [...baselines.values()].filter((w) => options.workloads.test(w.id)) : [];
    const run = async (w: Workload, c: number): Promise<Row> => {
      const row = await runWorkload(w, c, pidOf.get(w.id)!, options);
      book.add(row);
      return row;
    };
    for (let round = 0; round < options.rounds; round++) {
      log(`round ${round + 1}/${options.rounds}`);
      for (const c of concurrencies) {
        for (const w of echoOnly) await run(w, c);
        // Odd rounds run the workloads in reverse order, so no workload always follows the same one.
        for (const w of round % 2 === 0 ? chosen : [...chosen].reverse()) {
          const base = baselines.get(w.baseline);
          if (base === undefined) {
            await run(w, c);
            continue;
          }
          const [first, second] = pairOrder(round, base, w);
          const a = await run(first, c);
          const b = await run(second, c);
          const [baseRow, daemonRow] = first === base ? [a, b] : [b, a];
          book.addPair(daemonRow, baseRow);
        }
      }
    }
    rows.push(...book.rows());

    if (echo !== undefined) {
      scale.echoRssKb = statusKb(echo.pid, "VmHWM");
      await stopProcess(echo.child);
    }
    if (small !== undefined) {
      scale.smallPeakRssKb = statusKb(small.pid, "VmHWM");
      await stopProcess(small.child);
    }
    if (base !== undefined) await stopProcess(base.child);
    if (big !== undefined) {
      // Peak RSS of the workloads, before the storm (10,000 connections at once is its own row).
      scale.bigPeakRssKb = statusKb(big.pid, "VmHWM");
      scale.bigEndRssAnonKb = statusKb(big.pid, "RssAnon");
      scale.bigEndRssFileKb = statusKb(big.pid, "RssFile");
      // A reconnect storm: every node reconnects at once over Connect, each from its own address.
      const stormNodes = Math.min(STORM_NODES, options.nodes);
      log(`reconnect storm: ${stormNodes} nodes over Connect, one loopback address each`);
      const pid = big.pid;
      const storm = await reconnectStorm(big.nodeTarget, preloadBig!.gatewayId, stormNodes, () => processCpuUs(pid));
      scale.storm = storm;
      log(
        `  ${storm.sessions}/${storm.nodes} sessions in ${(storm.wallMs / 1000).toFixed(1)} s, ` +
          `${storm.serverCpuUsPerSession.toFixed(0)} µs server CPU per session, ${storm.retries} retries, failed attempts ${JSON.stringify(storm.failures)}`,
      );
      cliAllowed = timeCli(bigHome, ["pairing", "allowed", "telegram"], 3);
      cliNodes = cliHasCommand("nodes") ? timeCli(bigHome, ["nodes", "list"], 3) : undefined;
      scale.stormPeakRssKb = statusKb(big.pid, "VmHWM");
      scale.cliPairingAllowed = cliAllowed;
      scale.cliNodesList = cliNodes ?? { note: "`pairgate nodes` does not exist in this build" };
      log(`  CLI pairing allowed telegram: ${cliAllowed.ms.toFixed(0)} ms (${cliAllowed.note})`);
      log(cliNodes === undefined ? "  CLI nodes list: not available in this build" : `  CLI nodes list: ${cliNodes.ms.toFixed(0)} ms (${cliNodes.note})`);
      await stopProcess(big.child);
    }

    // 3. CLI start-up: interleaved rounds of bare node, --version and pairing list (3 pending requests).
    if (options.phases.has("cli")) {
      const cliHome = join(tmp, "cli");
      mkdirSync(cliHome, { mode: 0o700 });
      const d = await startPairgate(cliHome, await freePort());
      for (const sender of ["1001", "1002", "1003"]) {
        spawnSync(process.execPath, [CLI, "inbound", "telegram", sender], { env: { ...process.env, PAIRGATE_HOME: cliHome } });
      }
      const rounds = Number(process.env.BENCH_CLI_ROUNDS ?? (options.smoke ? 5 : 15));
      log(`CLI start-up: ${rounds} interleaved rounds of node -e 0, ${STARTUP_LABELS}`);
      startup = measureCliStartup(CLI, cliHome, rounds);
      scale.cliStartup = startup;
      log(`  node -e 0: ${startup.nodeMedianMs.toFixed(0)} ms; ` + startup.commands.map((c) => `${c.label}: ${c.medianMs.toFixed(0)} ms (${c.ratio.toFixed(2)}×)`).join("; "));
      await stopProcess(d.child);
    }

    const goals = checkGoals(rows, book, scale, cliAllowed, cliNodes);
    if (startup !== undefined) {
      for (const c of startup.commands) {
        goals.push({
          ...spreadGoal(`CLI start-up: \`${c.label}\` vs \`node -e 0\` (per-round ratios)`, c.ok ? c.ratioSpread : undefined, { max: c.maxRatio }),
          ...(c.ok ? {} : { measured: `failed: ${c.note}` }),
        });
      }
    }
    const table = formatTable(rows);
    const out = {
      generatedAt: new Date().toISOString(),
      smoke: options.smoke,
      machine: facts,
      loadGenerator: { kind: "node", description: generator, python3Grpcio: python ?? null },
      settings: { rounds: options.rounds, durationS: options.durationS, warmupS: options.warmupS, workers: options.workers, concurrencies },
      unknownMix: {
        accounts: UNKNOWN_ACCOUNTS,
        repeatShare: UNKNOWN_REPEAT_SHARE,
        description: `telegram, ${UNKNOWN_ACCOUNTS} bot accounts picked uniformly; ${UNKNOWN_REPEAT_SHARE * 100}% of messages from one of 3 regular unknown senders per account, the rest from never-seen senders; maxPending 3`,
      },
      preload: { small: preloadSmall, big: preloadBig },
      scale,
      rows,
      goals,
      totalS: (performance.now() - started) / 1000,
    };
    mkdirSync(join(options.out, ".."), { recursive: true });
    writeFileSync(options.out, JSON.stringify(out, null, 2) + "\n");
    console.log(table);
    console.log("");
    if (options.phases.has("big")) console.log(
      `start to SERVING (${bigLabel}): ${Number(scale.bigStartToServingMs).toFixed(0)} ms; peak RSS ${(Number(scale.bigPeakRssKb) / 1024).toFixed(0)} MB ` +
        `(1k store: ${(Number(scale.smallPeakRssKb) / 1024).toFixed(0)} MB, echo: ${(Number(scale.echoRssKb) / 1024).toFixed(0)} MB); ` +
        `after the workloads: ${(Number(scale.bigEndRssAnonKb) / 1024).toFixed(0)} MB anonymous + ` +
        `${(Number(scale.bigEndRssFileKb) / 1024).toFixed(0)} MB file-backed (LevelDB's mmapped tables, code)`,
    );
    const unknown = rows.find((r) => r.id === "unknown/c50");
    if (unknown !== undefined) console.log(`unknown-sender outcomes at c=50: ${JSON.stringify(unknown.outcomes)}`);
    console.log("");
    console.log(formatGoals(goals));
    console.log("");
    console.log(`wrote ${options.out} (total ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  } finally {
    await Promise.all([...children].map(stopProcess));
    if (options.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

function label(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

type CliTiming = ReturnType<typeof timeCli>;

const STARTUP_LABELS = "pairgate --version, pairgate pairing list telegram";

function stormGoal(storm: StormResult | undefined): GoalCheck {
  const goal = "reconnect storm: every paired node gets a session, no RESOURCE_EXHAUSTED";
  if (storm === undefined) return { goal, measured: "not measured (big phase skipped)", limit: "0 refused", pass: false };
  const failed = storm.nodes - storm.sessions;
  return {
    goal,
    measured:
      `${storm.sessions}/${storm.nodes} sessions in ${(storm.wallMs / 1000).toFixed(1)} s (${storm.retries} retries after dropped connections), ` +
      `${storm.resourceExhausted} RESOURCE_EXHAUSTED, ${failed} never connected`,
    limit: `${storm.nodes}/${storm.nodes}, 0 RESOURCE_EXHAUSTED`,
    pass: failed === 0 && storm.resourceExhausted === 0,
  };
}

function checkGoals(
  rows: readonly Row[],
  book: RoundBook,
  scale: Record<string, unknown>,
  cliAllowed: CliTiming | undefined,
  cliNodes: CliTiming | undefined,
): GoalCheck[] {
  const row = (id: string): Row | undefined => rows.find((r) => r.id === id);
  const cpu = (r: Row): number => r.serverCpuUsPerOp;
  const p99 = (r: Row): number => r.p99Ms;
  const ms = (v: unknown): number => Number(v);
  const cli = (name: string, t: CliTiming | undefined): GoalCheck =>
    t === undefined
      ? { goal: `CLI first page of \`${name}\``, measured: "not measured (command missing or phase skipped)", limit: "≤ 300 ms", pass: false }
      : { ...ratioGoal(`CLI first page of \`${name}\``, t.ok ? t.ms : undefined, { max: 300 }, " ms"), ...(t.ok ? {} : { measured: `failed: ${t.note}` }) };
  return [
    spreadGoal("CheckInbound allowed: server CPU/call vs echo (c=50)", row("allowed@1k/c50")?.cpuRatioSpread, { max: 1.2 }),
    spreadGoal("CheckInbound allowed: req/s vs echo (c=50)", row("allowed@1k/c50")?.rateRatioSpread, { min: 0.8 }),
    spreadGoal("CheckInbound unknown: req/s vs echo (c=50)", row("unknown/c50")?.rateRatioSpread, { min: 0.5 }),
    // A handshake is one operation of two RPCs; its ratio is per handshake to one echo call.
    spreadGoal("handshake: server CPU per handshake vs one echo call (tcp, c=50)", row("handshake@1k/c50")?.cpuRatioSpread, { max: 3 }),
    spreadGoal("Connect: server CPU per established session vs one echo call (tcp, c=50)", row("connect@1k/c50")?.cpuRatioSpread, { max: 2.5 }),
    spreadGoal("scale: CheckInbound allowed CPU/call vs 1k (c=50)", book.crossRatio("allowed@big/c50", "allowed@1k/c50", cpu), { max: 1.25 }),
    spreadGoal("scale: CheckInbound allowed p99 vs 1k (c=50)", book.crossRatio("allowed@big/c50", "allowed@1k/c50", p99), { max: 1.25 }),
    spreadGoal("scale: handshake CPU/handshake vs 1k (c=50)", book.crossRatio("handshake@big/c50", "handshake@1k/c50", cpu), { max: 1.25 }),
    spreadGoal("scale: handshake p99 vs 1k (c=50)", book.crossRatio("handshake@big/c50", "handshake@1k/c50", p99), { max: 1.25 }),
    ...["allowed@1k", "handshake@1k", "heartbeat"].filter((id) => book.samples(`${id}@base/c50`).length > 0).map((id) =>
      spreadGoal(`vs baseline build: ${id} server CPU/op at c=50 (this build / baseline, per round)`, book.crossRatio(`${id}/c50`, `${id}@base/c50`, cpu), { max: 1.1 }),
    ),
    stormGoal(scale.storm as StormResult | undefined),
    ratioGoal("scale: daemon peak RSS (VmHWM)", ms(scale.bigPeakRssKb) / 1024, { max: 200 }, " MB"),
    ratioGoal("scale: start to health SERVING", ms(scale.bigStartToServingMs), { max: 2000 }, " ms"),
    cli("pairgate pairing allowed telegram", cliAllowed),
    cli("pairgate nodes list", cliNodes),
  ];
}

if (require.main === module) {
  const kill = (): void => {
    for (const c of children) c.kill("SIGKILL");
  };
  process.on("SIGINT", () => {
    kill();
    process.exit(130);
  });
  main().catch((err: unknown) => {
    console.error(err);
    kill();
    process.exit(1);
  });
}
