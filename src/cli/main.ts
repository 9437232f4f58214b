#!/usr/bin/env node
import { Command } from "commander";
import { registerChannelsCommands } from "./commands/channels";
import { registerDbCommands } from "./commands/db";
import { registerInboundCommand } from "./commands/inbound";
import { registerNodesCommands } from "./commands/nodes";
import { registerPairingCommands } from "./commands/pairing";
import { registerServeCommand } from "./commands/serve";
import { createContext, EXIT_USAGE, report } from "./context";

/** The CLI's version (kept equal to package.json's). */
const VERSION = "0.1.0";

/** Builds the `pairgate` command tree. */
export function buildProgram(): Command {
  const program = new Command("pairgate")
    .description("pairgate: decide who may talk to your personal AI assistant (DM pairing and node pairing)")
    .version(VERSION, "-V, --version")
    .option("--home <dir>", "state directory (default: $PAIRGATE_HOME or ~/.pairgate)")
    .option("--socket <path>", "operator socket (default: $PAIRGATE_SOCKET or <home>/pairgate.sock)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const ctx = createContext(program);
  registerServeCommand(program, ctx);
  registerInboundCommand(program, ctx);
  registerPairingCommands(program, ctx);
  registerChannelsCommands(program, ctx);
  registerNodesCommands(program, ctx);
  registerDbCommands(program, ctx);
  // Every subcommand exits through the same override (usage errors -> exit 2).
  const applyExitOverride = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(applyExitOverride);
  };
  applyExitOverride(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    process.exitCode = report(err, { line: () => undefined, error: (t) => void process.stderr.write(t + "\n"), json: () => undefined, table: () => undefined });
    if (process.exitCode === undefined) process.exitCode = EXIT_USAGE;
  }
}

if (require.main === module) void main();
