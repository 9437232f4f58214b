import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Path of the built CLI (`make build` produces it; `make test` builds first). */
export const CLI = join(__dirname, "..", "..", "dist", "src", "cli", "main.js");

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `pairgate` CLI with `args` and the given environment additions; never rejects. */
export function pairgate(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'make build' first`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, NO_COLOR: "1", ...env }, timeout: 15_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A `pairgate serve` subprocess. */
export interface ServeProcess {
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts `pairgate serve` with `args`; resolves once it reports that it is listening (or exits). A
 * stale socket file from a killed daemon does not count as ready.
 */
export async function serve(home: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  withFreeNodePort(home, args);
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { ...process.env, NO_COLOR: "1", PAIRGATE_HOME: home, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (!gone && !err.includes("pairgate daemon listening on") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, stderr: () => err, exited };
}

/**
 * Tests never bind the default node port (7421, maybe taken by a real daemon on this machine): unless
 * the test brings a config that sets a listen address, the node listener goes to a free port. Without
 * --config the discovered `<home>/config.json` is written (when absent); a plain-JSON --config file
 * without `nodes.listen` gets one added.
 */
function withFreeNodePort(home: string, args: readonly string[]): void {
  const at = args.findIndex((a) => a === "--config" || a === "-c");
  if (at < 0) {
    const configPath = join(home, "config.json");
    if (!existsSync(configPath)) writeFileSync(configPath, '{ "nodes": { "listen": "127.0.0.1:0" } }\n');
    return;
  }
  const path = args[at + 1];
  if (path === undefined) return;
  let config: { nodes?: Record<string, unknown> };
  try {
    config = JSON.parse(readFileSync(path, "utf8")) as { nodes?: Record<string, unknown> };
  } catch {
    return; // JSONC or a deliberately broken file: the test owns it
  }
  if (config.nodes?.listen === undefined) writeFileSync(path, JSON.stringify({ ...config, nodes: { ...config.nodes, listen: "127.0.0.1:0" } }));
}

/** Stops a `serve` subprocess if it is still running (SIGTERM) and waits for it; for afterEach hooks. */
export async function stopServe(daemon: ServeProcess | undefined): Promise<void> {
  if (daemon !== undefined && daemon.child.exitCode === null) {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
  }
}
