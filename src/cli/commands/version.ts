import type { Command } from "commander";
import type { CliContext } from "../context";
import { loadClients } from "../lazy";

/** The CLI's version (kept equal to package.json's; a test checks). */
export const CLI_VERSION = "0.1.0";

/**
 * Registers `pairgate version`: the CLI's version, and the daemon's (AdminService.GetDaemonStatus)
 * when it answers on the operator socket.
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
        let version: string | null = null;
        try {
          version = (await ctx.client().admin.getDaemonStatus()).version;
          reachable = true;
        } catch (err) {
          problem = err instanceof loadClients().PairgateError ? err.message : String(err);
        }
        if (opts.json) {
          ctx.out.json({ cli: CLI_VERSION, node: process.version, daemon: { socket, reachable, version } });
          return;
        }
        ctx.out.line(`pairgate CLI ${CLI_VERSION} (node ${process.version})`);
        ctx.out.line(
          reachable
            ? `daemon: ${version ?? ""} running on ${socket}${version === CLI_VERSION ? "" : ` (differs from the CLI's ${CLI_VERSION}: restart the daemon after upgrading)`}`
            : `daemon: not reachable: ${problem}`,
        );
      }),
    );
}
