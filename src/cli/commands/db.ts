import { randomBytes } from "node:crypto";
import { open, rename, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type * as Maintenance from "../../store-maintenance";
import type { IntegrityReport, RepairResult } from "../../store-maintenance";
import { type CliContext, CliFailure, UsageError } from "../context";

/**
 * Offline maintenance opens the database itself, like `serve`: it lives in src/store-maintenance.ts
 * and is loaded only by the commands that need it (see README, Architecture).
 */
const maintenance = (): Promise<typeof Maintenance> => import("../../store-maintenance.js");

/** A verification report in one shape for both the daemon's and the offline answer. */
export interface VerifySummary {
  ok: boolean;
  source: "daemon" | "offline";
  counts: Record<string, number>;
  problemCount: number;
  problems: { collection: string; key: string; message: string }[];
}

/** A DaemonNotRunningError of clients/ts, recognised by its code so `db` does not load grpc-js up front. */
function isDaemonNotRunning(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === "daemon_not_running";
}

/** Registers `pairgate db verify|repair|reset`, `pairgate backup <file>` and `pairgate restore <file>`. */
export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command("db").description("check, repair or reset the store (see README: Backups and recovery)");

  db.command("verify")
    .description("read every entry and check every invariant (through the daemon when it runs, else offline); exit 1 on problems")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const summary = await verify(ctx);
        if (opts.json) ctx.out.json(summary);
        else printVerify(ctx, summary);
        if (!summary.ok) process.exitCode = 1;
      }),
    );

  db.command("repair")
    .description("daemon stopped: LevelDB repair, then re-check, fix derivable indexes and counters, and report what was lost")
    .option("--compare <backup>", "a backup file to compare entry counts with (shows what was lost)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { compare?: string; json?: boolean }) => {
        await refuseWhileRunning(ctx, "db repair");
        const m = await maintenance();
        const result = await offline(m, () => m.repairOffline(ctx.home(), Date.now(), opts.compare === undefined ? undefined : resolve(opts.compare)));
        if (opts.json) ctx.out.json(result);
        else printRepair(ctx, result);
      }),
    );

  db.command("reset")
    .description("daemon stopped: delete the store and start over (every approval, paired node and the gateway identity are lost)")
    .option("--yes", "confirm: really delete everything")
    .action(
      ctx.action(async (opts: { yes?: boolean }) => {
        if (opts.yes !== true) {
          throw new UsageError("pairgate db reset deletes every approval, every paired node and the gateway identity. Run `pairgate db reset --yes` to do it");
        }
        await refuseWhileRunning(ctx, "db reset");
        const m = await maintenance();
        await offline(m, () => m.resetStore(ctx.home()));
        ctx.out.line(`Store in ${ctx.home()} reset. The next \`pairgate serve\` starts with an empty store and a new gateway identity; nodes must pair again.`);
      }),
    );

  program
    .command("backup <file>")
    .description("write a consistent, checksummed snapshot of the store (from the running daemon, else offline); holds the gateway key: keep it secret")
    .option("--force", "overwrite an existing file")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (file: string, opts: { force?: boolean; json?: boolean }) => {
        const path = resolve(file);
        if (opts.force !== true && (await exists(path))) throw new CliFailure(`pairgate: ${path} exists; choose another name or add --force`);
        let source: "daemon" | "offline" = "daemon";
        let bytes: number;
        try {
          const stream = ctx.client().admin.backup();
          bytes = await writeDurably(path, (async function* () {
            for await (const r of stream) yield r.chunk;
          })());
        } catch (err) {
          if (!isDaemonNotRunning(err)) throw err;
          source = "offline";
          const m = await maintenance();
          let written = 0;
          await offline(m, () => m.backupOffline(ctx.home(), async (chunks) => void (written = await writeDurably(path, chunks))));
          bytes = written;
        }
        if (opts.json) ctx.out.json({ file: path, bytes, source });
        else ctx.out.line(`Backup written to ${path} (${bytes} bytes, ${source === "daemon" ? "from the running daemon" : "offline"}). It holds the gateway's private key: keep it as secret as ${ctx.home()}.`);
      }),
    );

  program
    .command("restore <file>")
    .description("daemon stopped: replace the store with a backup (checksum verified first; gateway identity included)")
    .option("--force", "restore over a store that holds data (the old database is moved aside, not deleted)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (file: string, opts: { force?: boolean; json?: boolean }) => {
        await refuseWhileRunning(ctx, "restore");
        const m = await maintenance();
        const r = await offline(m, () => m.restoreOffline(ctx.home(), resolve(file), opts.force === true));
        if (opts.json) {
          ctx.out.json(r);
          return;
        }
        ctx.out.line(`Restored ${r.entries} entries from ${resolve(file)} (backup of ${new Date(r.createdAtMs).toISOString()}, gateway ${r.gatewayId.slice(0, 12)}).`);
        if (r.movedAside !== undefined) ctx.out.line(`The previous database was moved to ${r.movedAside}.`);
        ctx.out.line("Start the daemon with: pairgate serve");
      }),
    );
}

/** Verifies the store through the daemon when it runs, else offline. Throws CliFailure when the store cannot be opened. */
export async function verify(ctx: CliContext): Promise<VerifySummary> {
  try {
    const r = await ctx.client().admin.verifyStore();
    return {
      ok: r.ok,
      source: "daemon",
      counts: Object.fromEntries(r.counts.map((c) => [c.collection, c.count])),
      problemCount: r.problemCount,
      problems: r.problems,
    };
  } catch (err) {
    if (!isDaemonNotRunning(err)) throw err;
  }
  const m = await maintenance();
  const r: IntegrityReport = await offline(m, () => m.verifyOffline(ctx.home()));
  return { ok: r.problemCount === 0, source: "offline", counts: r.counts, problemCount: r.problemCount, problems: r.problems };
}

function printVerify(ctx: CliContext, s: VerifySummary): void {
  const c = s.counts;
  const line = `${c.dmAllow ?? 0} allowed senders, ${c.dmRequests ?? 0} pending DM requests, ${c.nodes ?? 0} paired nodes, ${c.nodeRequests ?? 0} pending node requests`;
  if (s.ok) {
    ctx.out.line(`Store OK (${s.source}): ${line}; every invariant holds.`);
    return;
  }
  ctx.out.table(["Collection", "Key", "Problem"], s.problems.map((p) => [p.collection, p.key, p.message]));
  ctx.out.line(`${s.problemCount} problem(s) (${s.source}): ${line}.`);
  ctx.out.line("Next: stop the daemon and run `pairgate db repair` (fixes indexes and counters), or restore a backup.");
}

function printRepair(ctx: CliContext, r: RepairResult): void {
  if (r.leveldbReport.length > 0) {
    ctx.out.line("LevelDB's repair reported (these records could not be recovered):");
    for (const l of r.leveldbReport) ctx.out.line(`  ${l}`);
  } else ctx.out.line("LevelDB's repair reported no unreadable records.");
  ctx.out.line(`Fixed ${r.fixedCount} invariant problem(s)${r.fixed.length > 0 ? ":" : "."}`);
  for (const p of r.fixed.slice(0, 20)) ctx.out.line(`  ${p.collection} ${p.key}: ${p.message}`);
  const rows = Object.entries(r.counts).map(([k, n]) => [k, String(n), r.backupCounts === undefined ? "" : String(r.backupCounts[SUBLEVEL_OF[k] ?? k] ?? 0)]);
  ctx.out.table(["Collection", "Now", r.backupCounts === undefined ? "" : "In backup"], rows);
  if (r.gatewayIdentity === "missing") ctx.out.line("The gateway identity was lost: the next start creates a new one and every node must pair again (or restore a backup).");
  ctx.out.line("Start the daemon with: pairgate serve");
}

/** Collection name -> LevelDB sublevel (backup files count by sublevel). */
const SUBLEVEL_OF: Record<string, string> = {
  dmRequests: "dm_requests", dmCodes: "dm_codes", dmExpiry: "dm_expiry", dmAllow: "dm_allow", dmOutbox: "dm_outbox",
  dmScopeStats: "dm_scope_stats", nodeRequests: "node_requests", nodeRequestByNode: "node_request_by_node",
  nodeRequestExpiry: "node_request_expiry", nodes: "nodes", audit: "audit", nodeInvites: "node_invites",
};

/** Offline commands must not run while a daemon serves the same store. Throws CliFailure when one answers. */
export async function refuseWhileRunning(ctx: CliContext, command: string): Promise<void> {
  try {
    await ctx.client().admin.getStoreStatus();
  } catch (err) {
    if (isDaemonNotRunning(err)) return;
    throw err;
  }
  throw new CliFailure(`pairgate: the daemon is running on ${ctx.socketPath()}; stop it before \`pairgate ${command}\``);
}

/** Runs an offline maintenance step, turning its expected failures into messages. */
async function offline<T>(m: typeof Maintenance, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof m.MaintenanceError || err instanceof m.BackupFileError || err instanceof m.StoreDamagedError) {
      throw new CliFailure(`pairgate: ${err.message}`);
    }
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes `chunks` to `path` via a temp file: fsync, rename, fsync of the directory; mode 0600. Returns the size. */
async function writeDurably(path: string, chunks: AsyncIterable<Buffer>): Promise<number> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600);
  let size = 0;
  try {
    for await (const chunk of chunks) {
      await fh.write(chunk);
      size += chunk.length;
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await import("node:fs/promises").then((fs) => fs.rm(tmp, { force: true }));
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return size;
}
