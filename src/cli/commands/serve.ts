import type { Command } from "commander";
import { ConfigError } from "../../config/load";
import { DaemonStartError, startDaemon } from "../../daemon";
import { type CliContext, CliFailure } from "../context";

/**
 * Registers `pairgate serve`: runs the daemon in the foreground until SIGINT/SIGTERM.
 * This is the one command that does not talk to a daemon: it is the daemon (src/daemon.ts is the
 * composition root; the CLI never opens the DB itself).
 */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("run the pairgate daemon in the foreground (state in --home / $PAIRGATE_HOME)")
    .option("-c, --config <file>", "JSON config file (default: embedded defaults, every channel on dmPolicy \"pairing\")")
    .action(
      ctx.action(async (opts: { config?: string }) => {
        let daemon;
        try {
          daemon = await startDaemon({ home: ctx.home(), ...(opts.config === undefined ? {} : { configPath: opts.config }) });
        } catch (err) {
          if (err instanceof ConfigError || err instanceof DaemonStartError) throw new CliFailure(`pairgate: ${err.message}`);
          throw err;
        }
        const running = daemon;
        ctx.out.error(
          `pairgate daemon listening on ${running.socketPath} (operator) and ${running.nodeAddress} ` +
            `(nodes${running.nodeTls ? ", TLS" : ""}). Ctrl-C to stop.`,
        );
        await new Promise<void>((resolve) => {
          let stopping = false;
          const onSignal = (signal: NodeJS.Signals): void => {
            if (stopping) {
              ctx.out.error(`pairgate: ${signal} again, exiting now`);
              process.exit(1);
            }
            stopping = true;
            running.stop().then(resolve, (err: unknown) => {
              ctx.out.error(`pairgate: error while stopping: ${String(err)}`);
              process.exitCode = 1;
              resolve();
            });
          };
          process.on("SIGINT", onSignal);
          process.on("SIGTERM", onSignal);
        });
      }),
    );
}
