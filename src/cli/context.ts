import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { type Command, CommanderError } from "commander";
import { InvalidArgumentError, PairgateClient, PairgateError } from "../../clients/ts";
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
  /** The client of the operator socket (created on first use, closed when the command ends). */
  client(): PairgateClient;
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
    client: () => (client ??= new PairgateClient({ socketPath: socketPath() })),
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
export function report(err: unknown, out: Output): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    out.error(err.message);
    return EXIT_USAGE;
  }
  if (err instanceof CliFailure || err instanceof PairgateError) {
    out.error(err.message);
    return EXIT_FAILURE;
  }
  out.error(`pairgate: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT_FAILURE;
}
