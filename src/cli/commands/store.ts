/* eslint-disable @typescript-eslint/no-require-imports */
import type { Command } from "commander";
import type * as ConfigLoad from "../../config/load";
import type * as ConfigStorage from "../../config/storage";
import type * as Maintenance from "../../store-maintenance";
import type * as Migrate from "../../store-migrate";
import { type CliContext, CliFailure, UsageError } from "../context";
import { refuseWhileRunning } from "./db";

/**
 * `pairgate store migrate --to URL|level`: copies the configured store into another and verifies it
 * (src/store-migrate.ts, loaded only by this command). Like `db repair` it opens the stores itself, so
 * every daemon must be stopped.
 */
export function registerStoreCommands(program: Command, ctx: CliContext): void {
  const store = program.command("store").description("move the store between the embedded LevelDB and PostgreSQL (see README: Moving a store)");

  store
    .command("migrate")
    .description(
      "every daemon stopped: copy the configured store (embedded, or PostgreSQL from $PAIRGATE_STORAGE_URL / the config) " +
        "to --to, verify every entry, and mark the old copy stale so no daemon serves it again",
    )
    .requiredOption("--to <url|level>", 'a postgres:// URL (the password may come from $PGPASSWORD or ~/.pgpass, as with psql), or "level" for the embedded store in the home')
    .option("--tenant <name>", "tenant of a PostgreSQL target (default: storage.tenant of the config)")
    .option("-c, --config <file>", "config file (default: <home>/config.json if it exists)")
    .option("--force", "move an embedded target that holds a live store aside (kept, not deleted) instead of refusing")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { to: string; tenant?: string; config?: string; force?: boolean; json?: boolean }) => {
        const { ConfigError, discoverConfig, loadConfig } = require("../../config/load") as typeof ConfigLoad;
        const { resolveStorage } = require("../../config/storage") as typeof ConfigStorage;
        const home = ctx.home();
        let from: ConfigStorage.StorageChoice;
        let configPath: string | undefined;
        let tenant: string;
        try {
          configPath = discoverConfig(home, opts.config);
          const loaded = loadConfig(configPath);
          from = resolveStorage(loaded.config.storage, process.env, loaded.source);
          tenant = opts.tenant ?? (loaded.config.storage.kind === "postgres" ? (loaded.config.storage.tenant ?? "") : "");
        } catch (err) {
          if (err instanceof ConfigError) throw new CliFailure(`pairgate: ${err.message}`);
          throw err;
        }
        const to = parseTarget(opts.to, tenant);
        await refuseWhileRunning(ctx, "store migrate");
        const m = require("../../store-migrate") as typeof Migrate;
        const { MaintenanceError } = require("../../store-maintenance") as typeof Maintenance;
        const progress = !opts.json && process.stderr.isTTY === true;
        let result: Migrate.MigrateResult;
        try {
          result = await m.migrateStore({
            home,
            from,
            to,
            ...(opts.force === true ? { force: true } : {}),
            ...(progress ? { onProgress: (n: number) => process.stderr.write(`\r  copied ${n} entries…`) } : {}),
          });
        } catch (err) {
          if (err instanceof MaintenanceError) throw new CliFailure(`pairgate: ${err.message}`);
          throw err;
        } finally {
          if (progress) process.stderr.write("\r\x1b[K");
        }
        if (opts.json) {
          ctx.out.json(result);
          return;
        }
        printResult(ctx, result, to, configPath ?? `${home}/config.json`);
      }),
    );
}

/** Parses `--to`. Throws UsageError (exit 2). */
function parseTarget(to: string, tenant: string): Migrate.MigrateTarget {
  if (to === "level" || to === "embedded") return { kind: "level" };
  if (/^postgres(ql)?:\/\/./.test(to)) {
    if (!/^[a-z0-9_-]{0,64}$/.test(tenant)) throw new UsageError("--tenant: lowercase letters, digits, _ and -, at most 64");
    return { kind: "postgres", url: to, tenant };
  }
  throw new UsageError(`--to: expected a postgres:// URL or "level", got ${JSON.stringify(to.replace(/:[^@/]*@/, ":***@"))}`);
}

function printResult(ctx: CliContext, r: Migrate.MigrateResult, to: Migrate.MigrateTarget, configPath: string): void {
  const seconds = (r.elapsedMs / 1000).toFixed(1);
  ctx.out.line(`Copied ${r.entries} entries from ${r.from} to ${r.to} and verified every one (${seconds} s).`);
  if (r.cleared !== undefined) ctx.out.line(`  (the target held a stale or unfinished copy: ${r.cleared} entries were deleted first)`);
  if (r.movedAside !== undefined) ctx.out.line(`  (the previous database was moved to ${r.movedAside})`);
  ctx.out.line("  " + Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(", "));
  if (r.gatewayId !== "") {
    ctx.out.line(`Gateway ${r.gatewayId} moved with it: paired nodes keep working${r.tlsKey === "copied" ? " and keep their TLS pin" : ""}; they authenticate again.`);
  }
  if (r.problemCount > 0) {
    ctx.out.line(`The copy has ${r.problemCount} invariant problems, as the source had; \`pairgate db verify\` lists them.`);
  }
  ctx.out.line(`${r.from.replace(/^t/, "T")} is now marked stale: no daemon starts on it again.`);
  if (to.kind === "postgres") {
    ctx.out.line(
      `Next: point every daemon at PostgreSQL (export PAIRGATE_STORAGE_URL='<url>', or "storage": {"kind": "postgres", "url": "…"} in ${configPath}), then run \`pairgate serve\`.`,
    );
  } else {
    ctx.out.line(`Next: unset PAIRGATE_STORAGE_URL and remove "storage" from ${configPath} (the default is the embedded store), then run \`pairgate serve\`.`);
  }
}
