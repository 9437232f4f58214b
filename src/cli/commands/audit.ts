import type { Command } from "commander";
import type { AuditRecord } from "../../../clients/ts";
import type { CliContext } from "../context";
import { UsageError } from "../context";
import { messageJson } from "../json";
import { isoTime, safeText } from "../output";

/** How often `audit --follow` asks for new records. */
const FOLLOW_POLL_MS = 1000;

/**
 * Parses `--since`: a duration back from now ("90s", "30m", "24h", "7d") or an ISO-8601 time.
 * Throws UsageError for anything else.
 */
export function parseSince(text: string, now = Date.now()): number {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  if (m !== null) {
    const unit = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
    return Math.max(0, now - Number(m[1]) * unit);
  }
  const t = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(t)) return t;
  throw new UsageError(`--since "${safeText(text)}": use a duration such as 90s, 30m, 24h, 7d, or a time such as 2026-01-27T10:00:00Z`);
}

/** Where a record happened, for the table: "telegram/default" or a shortened node id. */
function where(r: AuditRecord): string {
  if (r.channel !== "") return `${r.channel}/${r.accountId}`;
  return "";
}

function row(r: AuditRecord): string[] {
  const subject = r.action.startsWith("node.") ? r.subjectId.slice(0, 12) : r.subjectId;
  return [isoTime(r.atMs), r.action, r.role, where(r), safeText(subject), r.via, safeText(r.detail)];
}

const HEAD = ["Time", "Action", "Role", "Channel", "Subject", "Via", "Detail"];

/** Registers `pairgate audit [--since 24h] [--action a,b] [--json] [--follow]`. */
export function registerAuditCommand(program: Command, ctx: CliContext): void {
  program
    .command("audit")
    .description("show the audit trail: who approved, rejected, added, revoked, rotated what and when (oldest first)")
    .option("--since <when>", "only records since a duration ago (90s, 30m, 24h, 7d) or an ISO time")
    .option("--action <actions>", "only these actions, comma-separated (e.g. pairing.approve,node.revoke)")
    .option("--follow", "keep printing new records as they are written (Ctrl-C to stop)")
    .option("--json", "machine-readable output (with --follow: one record per line)")
    .action(
      ctx.action(async (opts: { since?: string; action?: string; follow?: boolean; json?: boolean }) => {
        const sinceMs = opts.since === undefined ? 0 : parseSince(opts.since);
        const actions = (opts.action ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
        const admin = ctx.client().admin;
        const records: AuditRecord[] = [];
        let token = "";
        let lastId = "";
        do {
          const page = await admin.listAuditRecords({ sinceMs, actions, pageSize: 1000, pageToken: token });
          records.push(...page.records);
          token = page.nextPageToken;
        } while (token !== "");
        lastId = records[records.length - 1]?.id ?? "";
        if (!opts.follow) {
          if (opts.json) ctx.out.json({ records: records.map((r) => messageJson(r)) });
          else if (records.length === 0) ctx.out.line(`No audit records${opts.since === undefined ? "" : ` since ${isoTime(sinceMs)}`}.`);
          else ctx.out.table(HEAD, records.map(row));
          return;
        }
        const print = (rs: AuditRecord[]): void => {
          for (const r of rs) {
            if (opts.json) process.stdout.write(JSON.stringify(messageJson(r)) + "\n");
            else ctx.out.line(row(r).filter((c) => c !== "").join("  "));
          }
        };
        if (!opts.json && ctx.out.interactive) ctx.out.line(HEAD.join("  "));
        print(records);
        for (;;) {
          await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
          let more = true;
          while (more) {
            const page = await admin.listAuditRecords({ sinceMs, actions, pageSize: 1000, pageToken: lastId });
            print(page.records);
            lastId = page.records[page.records.length - 1]?.id ?? lastId;
            more = page.nextPageToken !== "";
          }
        }
      }),
    );
}
