import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Client, credentials, Metadata } from "@grpc/grpc-js";

/**
 * The processes a bench run starts: the echo server and pairgate daemons (this build's or a baseline
 * build's), with the bookkeeping to stop them all. Used by bench/run.ts.
 */

/** The built CLI next to this build of the bench (dist/src/cli/main.js after `make build`). */
export const CLI = join(__dirname, "..", "src", "cli", "main.js");
const ECHO_SERVER = join(__dirname, "echo-server.js");

/** Every child process still running (stopped at the end, killed on SIGINT). */
export const children = new Set<ChildProcess>();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const log = (s: string): void => void process.stderr.write(s + "\n");

export function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export function freePort(): Promise<number> {
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
export function healthServing(socketPath: string): Promise<boolean> {
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

export interface RunningServer {
  child: ChildProcess;
  pid: number;
  /** ms from spawn() to health SERVING (daemon) or bound (echo). */
  startMs: number;
}

export async function startEcho(socketPath: string): Promise<RunningServer & { tcpPort: number }> {
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

/**
 * Extra `node` flags of the daemon process (BENCH_DAEMON_NODE_FLAGS, space separated), e.g. V8 heap
 * limits. A `--baseline-cli` daemon gets BENCH_BASELINE_NODE_FLAGS instead when that is set ("-" for
 * none), so one build can be compared with itself under other flags in the same rounds.
 */
export function daemonNodeFlags(baseline = false): string[] {
  const set = (baseline ? process.env.BENCH_BASELINE_NODE_FLAGS : undefined) ?? process.env.BENCH_DAEMON_NODE_FLAGS ?? "";
  return set.split(/\s+/).filter((f) => f !== "" && f !== "-");
}

export async function startPairgate(
  home: string,
  nodePort: number,
  profileDir?: string,
  baselineCli?: string,
  storageUrl?: string,
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
  // A baseline build may predate `nodes.limits` (and the config is strict): it gets the listen address
  // only, unless BENCH_BASELINE_LIMITS=1 says it knows the limits too.
  const withLimits = baselineCli === undefined || process.env.BENCH_BASELINE_LIMITS === "1";
  const nodes = withLimits ? { listen: `127.0.0.1:${nodePort}`, limits } : { listen: `127.0.0.1:${nodePort}` };
  // A PostgreSQL store: the URL goes in the environment, as an operator would pass it.
  writeFileSync(configPath, JSON.stringify(storageUrl === undefined ? { nodes } : { nodes, storage: { kind: "postgres" } }));
  const socketPath = join(home, "pairgate.sock");
  const logFd = openSync(join(home, "daemon.log"), "a");
  const t0 = performance.now();
  const child = track(
    spawn(process.execPath, [...daemonNodeFlags(baselineCli !== undefined), ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]), baselineCli ?? CLI, "serve", "--config", configPath], {
      env: { ...process.env, PAIRGATE_HOME: home, ...(storageUrl === undefined ? {} : { PAIRGATE_STORAGE_URL: storageUrl }) },
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
