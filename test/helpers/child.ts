import { type ChildProcess, spawn } from "node:child_process";

/** A child process with its output collected, for tests that drive clients as subprocesses. */
export interface Child {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Writes one line to stdin. */
  writeLine(line: string): void;
  /** Resolves with the first match of `pattern` in stdout (searching from `from`), or rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** Sends SIGTERM unless it has exited, and waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `command args` with `env` added to this process's environment. */
export function startChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Child {
  const child = spawn(command, args, { env: { ...process.env, NO_COLOR: "1", ...env }, cwd, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    writeLine: (line) => void child.stdin?.write(`${line}\n`),
    waitFor: async (pattern, ms = 15_000, from = 0) => {
      const end = Date.now() + ms;
      for (;;) {
        const m = out.slice(from).match(pattern);
        if (m !== null) return m;
        if (done || Date.now() > end) {
          throw new Error(`${done ? "exited" : "timed out"} waiting for ${String(pattern)}\nstdout:\n${out}\nstderr:\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    kill: async () => {
      if (!done) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Polls `probe` until it returns a value other than undefined; rejects after `ms`. */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
