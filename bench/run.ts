import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { bulkLoad, type BulkLoadResult } from "./bulk-load";
import { measureCliStartup, type StartupResult } from "./cli-startup";
import { BASELINE_WORKLOADS, checkGoals } from "./goals";
import { cliHasCommand, type CliTiming, runWorkload, timeCli, type Workload } from "./runner";
import { type PostgresPhase, startPostgresPhase } from "./postgres-phase";
import { UNKNOWN_ACCOUNTS, UNKNOWN_REPEAT_SHARE } from "./load-worker";
import { clockTicks, processCpuUs, statusKb } from "./proc-stats";
import { formatGoals, formatTable, type Row, spreadGoal } from "./report";
import { pairOrder, RoundBook } from "./rounds";
import { children, CLI, freePort, log, type RunningServer, startEcho, startPairgate, stopProcess } from "./servers";
import { pacedId, SAME_RATE } from "./same-rate";
import { reconnectStorm } from "./storm";

/**
 * `make bench` (node dist/bench/run.js): the pairgate benchmark. Starts a bare grpc-js echo server and
 * the daemon (each a separate process), drives them with the same Node load generator (forked worker
 * processes), and prints one table plus the goals of issue 4. See bench/README.md.
 *
 * Options (flags or environment): --smoke / BENCH_SMOKE=1, --duration=S / BENCH_DURATION,
 * --warmup=S / BENCH_WARMUP, --workers=N / BENCH_WORKERS, --senders=N / BENCH_SENDERS,
 * --nodes=N / BENCH_NODES, --out=FILE / BENCH_OUT, --only=echo,small,big,pg,cli / BENCH_ONLY (phases to run; pg = two
 * daemons over a throwaway PostgreSQL, skipped with a loud line when it is not installed; cli = start-up of
 * `pairgate --version` and `pairgate pairing list telegram` vs bare `node -e 0`, BENCH_CLI_ROUNDS rounds, default 15),
 * --workloads=REGEX / BENCH_WORKLOADS (run only workloads whose id matches, e.g. "allowed"),
 * --profile=DIR / BENCH_PROFILE (run the daemon with --cpu-prof into DIR), --keep (keep the temp state dirs).
 */

const ROOT = join(__dirname, "..", "..");
/** What the CLI start-up phase times against bare node. */
const STARTUP_LABELS = "pairgate --version, pairgate pairing list telegram";
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

/** The options that take a value (`--name=value`); any of them makes a run partial. */
const VALUE_OPTIONS = ["only", "workloads", "profile", "duration", "warmup", "rounds", "concurrency", "workers", "senders", "nodes", "baseline-cli", "out"] as const;
/** The options without a value. */
const SWITCHES = ["smoke", "keep"] as const;

/** The first argument that is not a known option, or undefined. */
export function unknownOption(argv: readonly string[]): string | undefined {
  return argv.find((a) => {
    const name = a.startsWith("--") ? a.slice(2).split("=")[0]! : "";
    return !((VALUE_OPTIONS as readonly string[]).includes(name) || ((SWITCHES as readonly string[]).includes(name) && !a.includes("=")));
  });
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
    VALUE_OPTIONS.filter((n) => n !== "out").some((n) => flag(n) !== undefined) ||
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
    phases: new Set((value("only", "BENCH_ONLY") ?? "echo,small,big,pg,cli").split(",").map((p) => p.trim())),
  };
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

/** What `--help` prints. */
const USAGE = `usage: node dist/bench/run.js [options]   (make bench = a full default run, ~15 min)
  --smoke                 short runs on a small scale store (~75 s)
  --rounds=N              rounds (default 5); --duration=S, --warmup=S per run (default 2.5, 0.5)
  --concurrency=N,M       calls in flight per run (default 1,50); --workers=N load processes (default 2)
  --senders=N --nodes=N   scale of the big store (default 1000000 / 100000)
  --only=echo,small,big,pg,cli   phases to run;  --workloads=REGEX  only matching workload ids
  --baseline-cli=PATH     another build's dist/src/cli/main.js, measured in the same rounds (A/B)
  --profile=DIR           the daemon runs with --cpu-prof into DIR;  --keep  keep the temp state dirs
  --out=FILE              where the JSON goes (default bench/results/latest.json for a full run)
Every flag has a BENCH_* environment variable; see bench/README.md.`;

async function main(): Promise<void> {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(USAGE);
    return;
  }
  const unknown = unknownOption(process.argv.slice(2));
  if (unknown !== undefined) {
    console.error(`bench: unknown option ${unknown}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
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
    const pidOf = new Map<string, number[]>();
    const storeCpuOf = new Map<string, () => number>();
    let echo: (RunningServer & { tcpPort: number }) | undefined;
    if (options.phases.has("echo")) {
      echo = await startEcho(join(tmp, "echo.sock"));
      const echoUnix: Workload = { id: "echo-unix", workload: "echo (unix socket)", store: "-", baseline: "echo-unix", kind: "echo", target: `unix:${join(tmp, "echo.sock")}`, callsPerOp: 1 };
      const echoTcp: Workload = { ...echoUnix, id: "echo-tcp", workload: "echo (tcp)", baseline: "echo-tcp", target: `127.0.0.1:${echo.tcpPort}` };
      for (const w of [echoUnix, echoTcp]) {
        baselines.set(w.id, w);
        pidOf.set(w.id, [echo.pid]);
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
      for (const w of daemonWorkloads) pidOf.set(w.id, [small.pid]);
      scale.smallStartToServingMs = small.startMs;
      if (options.baselineCli !== undefined) {
        // The same small store, served by the baseline build: its workloads run in the same rounds.
        const baseHome = join(tmp, "base");
        mkdirSync(baseHome, { mode: 0o700 });
        const preloadBase = await bulkLoad(baseHome, SMALL_SENDERS, SMALL_NODES);
        base = await startPairgate(baseHome, await freePort(), undefined, options.baselineCli);
        log(`baseline daemon (${options.baselineCli}) on its own 1k store`);
        const known = new Set(BASELINE_WORKLOADS);
        for (const w of daemonWorkloads.filter((x) => known.has(x.id))) {
          const target = w.baseline === "echo-unix" ? `unix:${base.socketPath}` : base.nodeTarget;
          const bw: Workload = { ...w, id: `${w.id}@base`, store: "1k (baseline build)", target, ...(w.gatewayId === undefined ? {} : { gatewayId: preloadBase.gatewayId }) };
          pidOf.set(bw.id, [base.pid]);
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
      for (const w of bigWorkloads) pidOf.set(w.id, [big.pid]);
      daemonWorkloads.push(...bigWorkloads);
      scale.bigStartToServingMs = big.startMs;
    }

    let pgPhase: PostgresPhase | undefined;
    if (options.phases.has("pg")) {
      pgPhase = await startPostgresPhase(tmp, SMALL_SENDERS, SMALL_NODES);
      for (const w of pgPhase?.workloads ?? []) {
        pidOf.set(w.id, pgPhase!.pids.get(w.id)!);
        storeCpuOf.set(w.id, pgPhase!.storeCpuUs);
        daemonWorkloads.push(w);
      }
    }

    // 2. Rounds: each daemon workload right next to its echo baseline (alternating which goes first),
    //    every workload once per round; ratios are taken within a round and summarised by their median.
    const chosen = [...daemonWorkloads, ...baseWorkloads].filter((w) => options.workloads.test(w.id));
    const echoOnly = chosen.length === 0 ? [...baselines.values()].filter((w) => options.workloads.test(w.id)) : [];
    const run = async (w: Workload, c: number): Promise<Row> => {
      const row = await runWorkload(w, c, pidOf.get(w.id)!, options, storeCpuOf.get(w.id));
      book.add(row);
      return row;
    };
    /** Runs a daemon workload right next to its baseline (pairOrder) and records their per-round ratio. */
    const runPair = async (base: Workload, daemon: Workload, c: number, round: number): Promise<void> => {
      const [first, second] = pairOrder(round, base, daemon);
      const a = await run(first, c);
      const b = await run(second, c);
      const [baseRow, daemonRow] = first === base ? [a, b] : [b, a];
      book.addPair(daemonRow, baseRow);
    };
    const runPaced = async (w: Workload, base: Workload, pace: (typeof SAME_RATE)[string], c: number, round: number): Promise<void> => {
      const echoPerS = pace.echoPerS ?? SAME_RATE[pace.like ?? ""]?.echoPerS ?? pace.opsPerS;
      const basePaced: Workload = { ...base, id: pacedId(base.id, echoPerS), workload: `${base.workload}, paced ${echoPerS}/s`, baseline: pacedId(base.id, echoPerS), ratePerS: echoPerS };
      const daemonPaced: Workload = { ...w, id: pacedId(w.id, pace.opsPerS), workload: `${w.workload}, paced ${pace.opsPerS}/s`, baseline: basePaced.id, ratePerS: pace.opsPerS };
      pidOf.set(basePaced.id, pidOf.get(base.id)!);
      pidOf.set(daemonPaced.id, pidOf.get(w.id)!);
      if (pace.like !== undefined) {
        await run(daemonPaced, c);
        return;
      }
      await runPair(basePaced, daemonPaced, c, round);
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
          await runPair(base, w, c, round);
          const pace = SAME_RATE[w.id.replace(/@base$/, "")];
          if (pace !== undefined && c === Math.max(...concurrencies) && c >= 10) await runPaced(w, base, pace, c, round);
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
    await pgPhase?.stop();
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
