/* eslint-disable @typescript-eslint/no-require-imports */
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type * as ConfigLoad from "../../config/load";
import type * as ConfigTemplate from "../../config/template";
import { type CliContext, CliFailure } from "../context";

/**
 * Registers `pairgate init`: creates the state directory (0700) and a commented `config.json` holding
 * every key with its default, then prints the next steps. Refuses to overwrite an existing config
 * unless --force.
 */
export function registerInitCommand(program: Command, ctx: CliContext): void {
  program
    .command("init")
    .description("create the state directory (mode 0700) and a commented config.json with every default")
    .option("--force", "overwrite an existing config.json")
    .action(
      ctx.action(async (opts: { force?: boolean }) => {
        const { CONFIG_FILE_NAME, loadConfig } = require("../../config/load") as typeof ConfigLoad;
        const { configTemplate } = require("../../config/template") as typeof ConfigTemplate;
        const home = ctx.home();
        const path = join(home, CONFIG_FILE_NAME);
        if (existsSync(path) && opts.force !== true) {
          throw new CliFailure(`${path} already exists; edit it, or pass --force to replace it with a fresh default config`);
        }
        mkdirSync(home, { recursive: true, mode: 0o700 });
        if ((statSync(home).mode & 0o077) !== 0) chmodSync(home, 0o700);
        writeFileSync(path, configTemplate(home), { mode: 0o600 });
        loadConfig(path); // what init writes must load; a failure here is a bug, reported as such
        const env = process.env.PAIRGATE_HOME === undefined ? `export PAIRGATE_HOME=${home}   # if it is not ~/.pairgate\n  ` : "";
        ctx.out.line(
          [
            `Created ${home} (mode 0700) and ${path}.`,
            "",
            "Next steps:",
            `  ${env}$EDITOR ${path}            # optional: policies, allowFrom, node listener`,
            "  pairgate serve                          # run the daemon in the foreground",
            "  pairgate service install                # or run it as a user service (systemd / launchd)",
            "  pairgate pairing list                   # then approve codes: pairgate pairing approve <channel> <code>",
          ].join("\n"),
        );
      }),
    );
}
