import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
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

/** Starts `pairgate serve` with `args`; resolves once the socket exists (or the process exits). */
export async function serve(home: string, args: readonly string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { ...process.env, NO_COLOR: "1", PAIRGATE_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (!gone && !existsSync(join(home, "pairgate.sock")) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
  }
  // The socket exists a moment before chmod; give the daemon a beat to finish binding.
  if (!gone) await new Promise((r) => setTimeout(r, 50));
  return { child, stderr: () => err, exited };
}
