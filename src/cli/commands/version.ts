import type { Command } from "commander";
import type { CliContext } from "../context";
import { loadClients } from "../lazy";

/** The CLI's version (kept equal to package.json's; a test checks). */
export const CLI_VERSION = "0.1.0";

/**
 * Registers `pairgate version`: the CLI's version, and whether the daemon answers on the operator
 * socket. The operator API has no version RPC yet, so the daemon's version is reported as unknown.
 */
export function registerVersionCommand(program: Command, ctx: CliContext): void {
  program
    .command("version")
    .description("print the CLI version and whether the daemon is reachable")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const socket = ctx.socketPath();
        let reachable = false;
        let problem = "";
        try {
          await ctx.client().dmPairing.listChannels();
          reachable = true;
        } catch (err) {
          problem = err instanceof loadClients().PairgateError ? err.message : String(err);
        }
        if (opts.json) {
          ctx.out.json({ cli: CLI_VERSION, node: process.version, daemon: { socket, reachable, version: null } });
          return;
        }
        ctx.out.line(`pairgate CLI ${CLI_VERSION} (node ${process.version})`);
        ctx.out.line(
          reachable
            ? `daemon: running on ${socket}; version unknown (the operator API does not report it yet)`
            : `daemon: not reachable: ${problem}`,
        );
      }),
    );
}
