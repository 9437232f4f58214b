/* eslint-disable @typescript-eslint/no-require-imports */
import { type Command, Option } from "commander";
import type * as ConfigLoad from "../../config/load";
import type * as DaemonModule from "../../daemon";
import type * as HeapDefaults from "../../heap-defaults";
import { type CliContext, CliFailure, UsageError } from "../context";

const LEVELS = ["debug", "info", "warn", "error"] as const;
const FORMATS = ["text", "json"] as const;

/** Picks the log level: --log-level, else $PAIRGATE_LOG_LEVEL, else undefined (the config's logLevel). */
function levelOverride(flag: string | undefined): (typeof LEVELS)[number] | undefined {
  const value = flag ?? process.env.PAIRGATE_LOG_LEVEL;
  if (value === undefined || value === "") return undefined;
  const level = LEVELS.find((l) => l === value.toLowerCase());
  if (level === undefined) {
    throw new UsageError(`${flag === undefined ? "PAIRGATE_LOG_LEVEL" : "--log-level"} must be one of ${LEVELS.join(", ")} (got "${value}")`);
  }
  return level;
}

/** Picks the log format: --log-format, else $PAIRGATE_LOG_FORMAT, else text when stderr is a terminal, else json. */
function logFormat(flag: string | undefined): (typeof FORMATS)[number] {
  const value = flag ?? process.env.PAIRGATE_LOG_FORMAT;
  if (value === undefined || value === "") return process.stderr.isTTY === true ? "text" : "json";
  const format = FORMATS.find((f) => f === value.toLowerCase());
  if (format === undefined) throw new UsageError(`PAIRGATE_LOG_FORMAT must be one of ${FORMATS.join(", ")} (got "${value}")`);
  return format;
}

/**
 * Registers `pairgate serve`: runs the daemon in the foreground until SIGINT/SIGTERM; SIGHUP reloads
 * the config. This is the one command that does not talk to a daemon: it is the daemon (src/daemon.ts
 * is the composition root, loaded only here; the CLI never opens the DB itself).
 */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("run the pairgate daemon in the foreground (state in --home / $PAIRGATE_HOME; SIGHUP reloads the config)")
    .option("-c, --config <file>", "JSONC config file (default: <home>/config.json if it exists, else embedded defaults)")
    .addOption(new Option("--log-level <level>", "log level; overrides $PAIRGATE_LOG_LEVEL and the config's logLevel").choices(LEVELS))
    .addOption(new Option("--log-format <format>", "text (for people) or json (one object per line); default: text on a terminal, else json; or $PAIRGATE_LOG_FORMAT").choices(FORMATS))
    .action(
      ctx.action(async (opts: { config?: string; logLevel?: string; logFormat?: string }) => {
        // SIGHUP before the daemon is up must not kill the process either (the default action would).
        let onHangup: () => void = () => ctx.out.error("pairgate: SIGHUP ignored: the daemon is still starting");
        const hangup = (): void => onHangup();
        process.on("SIGHUP", hangup);
        // Before the daemon's modules load: the memory goal holds with no node flags (src/heap-defaults.ts).
        const heap = require("../../heap-defaults") as typeof HeapDefaults;
        heap.applyHeapDefaults();
        heap.capYoungGeneration();
        const { ConfigError, discoverConfig } = require("../../config/load") as typeof ConfigLoad;
        const { DaemonStartError, startDaemon } = require("../../daemon") as typeof DaemonModule;
        const home = ctx.home();
        const logLevel = levelOverride(opts.logLevel);
        const configPath = discoverConfig(home, opts.config);
        let running: DaemonModule.Daemon;
        try {
          running = await startDaemon({
            home,
            logFormat: logFormat(opts.logFormat),
            ...(configPath === undefined ? {} : { configPath }),
            ...(logLevel === undefined ? {} : { logLevel }),
          });
        } catch (err) {
          process.off("SIGHUP", hangup);
          if (err instanceof ConfigError || err instanceof DaemonStartError) throw new CliFailure(`pairgate: ${err.message}`);
          throw err;
        }
        onHangup = () => void running.reload();
        ctx.out.error(
          `pairgate daemon listening on ${running.socketPath} (operator) and ${running.nodeAddress} ` +
            `(nodes${running.nodeTls ? ", TLS" : ""}); config: ${configPath ?? "embedded defaults"}. Ctrl-C to stop.`,
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
        process.off("SIGHUP", hangup);
      }),
    );
}
