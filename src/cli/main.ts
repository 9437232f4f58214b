#!/usr/bin/env node
// Start-up cost matters (scripts call the CLI in loops): this file and the command registrations load
// only commander; each action loads what it needs (src/cli/lazy.ts). Guarded by
// test/e2e/cli-startup.e2e.test.ts and measured by `make bench`.
import { Command } from "commander";
import { registerAuditCommand } from "./commands/audit";
import { registerChannelsCommands } from "./commands/channels";
import { registerDbCommands } from "./commands/db";
import { registerDoctorCommand } from "./commands/doctor";
import { registerImportCommand } from "./commands/import";
import { registerInboundCommand } from "./commands/inbound";
import { registerInitCommand } from "./commands/init";
import { registerNodesCommands } from "./commands/nodes";
import { registerPairingCommands } from "./commands/pairing";
import { registerServeCommand } from "./commands/serve";
import { registerServiceCommands } from "./commands/service";
import { registerStatusCommand } from "./commands/status";
import { registerStoreCommands } from "./commands/store";
import { CLI_VERSION, registerVersionCommand } from "./commands/version";
import { completionScript, type Shell, SHELLS } from "./completion";
import { type CliContext, createContext, EXIT_USAGE, report } from "./context";

function registerCompletionCommand(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .description("print a shell completion script (bash: source <(pairgate completion bash); fish: pairgate completion fish | source)")
    .addArgument(program.createArgument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .action(ctx.action(async (shell: Shell) => void process.stdout.write(completionScript(program, shell))));
}

/** Builds the `pairgate` command tree. */
export function buildProgram(): Command {
  const program = new Command("pairgate")
    .description("pairgate: decide who may talk to your personal AI assistant (DM pairing and node pairing)")
    .version(CLI_VERSION, "-V, --version")
    .option("--home <dir>", "state directory (default: $PAIRGATE_HOME or ~/.pairgate)")
    .option("--socket <path>", "operator socket (default: $PAIRGATE_SOCKET or <home>/pairgate.sock)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const ctx = createContext(program);
  registerInitCommand(program, ctx);
  registerServeCommand(program, ctx);
  registerServiceCommands(program, ctx);
  registerInboundCommand(program, ctx);
  registerPairingCommands(program, ctx);
  registerChannelsCommands(program, ctx);
  registerNodesCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerStoreCommands(program, ctx);
  registerAuditCommand(program, ctx);
  registerStatusCommand(program, ctx);
  registerDoctorCommand(program, ctx);
  registerImportCommand(program, ctx);
  registerVersionCommand(program, ctx);
  registerCompletionCommand(program, ctx);
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
    process.exitCode = report(err, { error: (t) => void process.stderr.write(t + "\n") });
    if (process.exitCode === undefined) process.exitCode = EXIT_USAGE;
  }
}

if (require.main === module) void main();
