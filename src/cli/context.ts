import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { type Command, CommanderError } from "commander";
import type { PairgateClient } from "../../clients/ts";
import { loadClients, loadedClients } from "./lazy";
import { type Output, processOutput } from "./output";

/** Exit codes: 0 ok, 1 failure, 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage problem found by a command itself (exit 2), e.g. a missing argument. */
export class UsageError extends Error {}

/** A failure a command reports itself (exit 1) with a message that says what to do next. */
export class CliFailure extends Error {}

/** What every command gets: where the daemon is, a lazily created client, and the output. */
export interface CliContext {
  readonly out: Output;
  /** The state dir: --home, else $PAIRGATE_HOME, else ~/.pairgate. */
  home(): string;
  /** The operator socket: --socket, else $PAIRGATE_SOCKET, else <home>/pairgate.sock. */
  socketPath(): string;
  /** The client of the operator socket (loaded and created on first use, closed when the command ends). */
  client(): PairgateClient;
  /**
   * Asks before a destructive change. On a terminal (stdin and stderr) without `--yes` it asks
   * `question [y/N]` and throws CliFailure unless the answer is yes. Without a terminal and without
   * `--yes` it throws UsageError (exit 2): like gh, pairgate never destroys non-interactively unasked.
   */
  confirm(question: string, yes: boolean | undefined): Promise<void>;
  /**
   * Wraps a command action: runs it, maps errors to messages and exit codes (InvalidArgument and
   * UsageError -> 2, anything else -> 1), closes the client.
   */
  action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void>;
}

/** Builds the context for `program` (reads its global --home/--socket options when first needed). */
export function createContext(program: Command, out: Output = processOutput()): CliContext {
  let client: PairgateClient | undefined;
  const home = (): string => {
    const opt = program.opts<{ home?: string }>().home;
    return resolve(opt ?? process.env.PAIRGATE_HOME ?? join(homedir(), ".pairgate"));
  };
  const socketPath = (): string => {
    const opt = program.opts<{ socket?: string }>().socket;
    return resolve(opt ?? process.env.PAIRGATE_SOCKET ?? join(home(), "pairgate.sock"));
  };
  return {
    out,
    home,
    socketPath,
    client: () => (client ??= new (loadClients().PairgateClient)({ socketPath: socketPath() })),
    confirm: async (question, yes) => {
      if (yes === true) return;
      if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) {
        throw new UsageError(`${question.replace(/\?$/, "")}: refusing without confirmation because stdin is not a terminal; pass --yes`);
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
        if (answer !== "y" && answer !== "yes") throw new CliFailure("Aborted; nothing changed.");
      } finally {
        rl.close();
      }
    },
    action:
      (fn) =>
      async (...args) => {
        try {
          await fn(...args);
        } catch (err) {
          process.exitCode = report(err, out);
        } finally {
          client?.close();
          client = undefined;
        }
      },
  };
}

/** Prints `err` for a person and returns the exit code. */
export function report(err: unknown, out: Pick<Output, "error">): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  // The client errors can only occur if a command loaded the client.
  const clients = loadedClients();
  if (err instanceof UsageError || (clients !== undefined && err instanceof clients.InvalidArgumentError)) {
    out.error(err.message);
    return EXIT_USAGE;
  }
  if (err instanceof CliFailure || (clients !== undefined && err instanceof clients.PairgateError)) {
    out.error(err.message);
    return EXIT_FAILURE;
  }
  out.error(`pairgate: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT_FAILURE;
}
