/* eslint-disable @typescript-eslint/no-require-imports */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type * as JsoncParser from "jsonc-parser";
import type { ImportStateResponse, PairgateClient } from "../../../clients/ts";
import type * as ConfigLoad from "../../config/load";
import { type CliContext, CliFailure, UsageError } from "../context";
import { type ImportSource, type PolicySuggestion, readSenderFile, readStateDir, stateDirOf } from "../import-sources";
import { safeText } from "../output";

/** Keep each ImportState request well under the daemon's 64 KiB message limit. */
const MAX_BATCH_BYTES = 48 * 1024;

type Sender = { channel: string; accountId: string; senderId: string };
type Request = Sender & { code: string; createdAtMs: number; senderMeta: Record<string, string> };

/** The daemon's summary over every batch, and how many batches (each one atomic write) it took. */
interface Summary {
  sendersImported: number;
  requestsImported: number;
  skipped: ImportStateResponse["skipped"];
  batches: number;
}

/**
 * Sends everything through AdminService.ImportState: one request (one atomic, synced write) when it
 * fits the 64 KiB message limit, else as few batches as fit.
 */
async function sendImport(client: PairgateClient, source: string, senders: Sender[], requests: Request[], dryRun: boolean): Promise<Summary> {
  const batches: Array<{ senders: Sender[]; requests: Request[] }> = [{ senders: [], requests: [] }];
  let size = 0;
  const add = (kind: "senders" | "requests", e: Sender | Request): void => {
    const n = JSON.stringify(e).length + 16;
    if (size + n > MAX_BATCH_BYTES && size > 0) {
      batches.push({ senders: [], requests: [] });
      size = 0;
    }
    size += n;
    const b = batches[batches.length - 1]!;
    if (kind === "senders") b.senders.push(e);
    else b.requests.push(e as Request);
  };
  for (const s of senders) add("senders", s);
  for (const r of requests) add("requests", r);
  const total: Summary = { sendersImported: 0, requestsImported: 0, skipped: [], batches: batches.length };
  for (const b of batches) {
    const res = await client.admin.importState({ source, senders: b.senders, requests: b.requests, dryRun });
    total.sendersImported += res.sendersImported;
    total.requestsImported += res.requestsImported;
    total.skipped.push(...res.skipped);
  }
  return total;
}

function printSummary(ctx: CliContext, s: Summary, dryRun: boolean, local: Array<{ file: string; what: string; reason: string }>): void {
  const verb = dryRun ? "Would import" : "Imported";
  if (s.sendersImported + s.requestsImported === 0) ctx.out.line(dryRun ? "Nothing new to import (dry run)." : "Nothing new to import: everything is already there.");
  else ctx.out.line(
    `${verb} ${s.sendersImported} allowed sender(s) and ${s.requestsImported} pending request(s)` +
      (dryRun ? " (dry run: nothing written)." : s.batches === 1 ? " in one atomic write." : ` in ${s.batches} atomic writes (64 KiB message limit).`),
  );
  const rows = [
    ...s.skipped.map((k) => [k.kind, k.channel, k.accountId || "default", safeText(k.senderId), k.reason]),
    ...local.map((k) => ["file", "", "", safeText(k.what), `${k.reason} (${k.file})`]),
  ];
  if (rows.length > 0) {
    ctx.out.line(`Skipped ${rows.length}:`);
    ctx.out.table(["Kind", "Channel", "Account", "Entry", "Reason"], rows);
  }
}

/**
 * Merges the suggested channel policies into the pairgate config file with jsonc-parser edits (its
 * comments and layout survive), allowFrom as a union with what is there. Validates the result with
 * the config loader before writing (temp file, rename, mode 0600). Returns whether the file changed.
 * Throws CliFailure when the merged config would be invalid.
 */
function writeConfig(path: string, channels: Record<string, PolicySuggestion>): boolean {
  const { applyEdits, modify, parse } = require("jsonc-parser") as typeof JsoncParser;
  const { parseConfigText } = require("../../config/load") as typeof ConfigLoad;
  const before = existsSync(path) ? readFileSync(path, "utf8") : "{}\n";
  let text = before;
  const current = (parse(text, [], { allowTrailingComma: true }) ?? {}) as { channels?: Record<string, Record<string, unknown>> };
  const set = (p: (string | number)[], value: unknown): void => {
    text = applyEdits(text, modify(text, p, value, { formattingOptions: { insertSpaces: true, tabSize: 2 } }));
  };
  const union = (existing: unknown, add: string[]): string[] => {
    const list = Array.isArray(existing) ? existing.map(String) : [];
    for (const e of add) if (!list.includes(e)) list.push(e);
    return list;
  };
  for (const [channel, s] of Object.entries(channels)) {
    const have = current.channels?.[channel] ?? {};
    if (s.dmPolicy !== undefined && have.dmPolicy !== s.dmPolicy) set(["channels", channel, "dmPolicy"], s.dmPolicy);
    if (s.allowFrom !== undefined) {
      const merged = union(have.allowFrom, s.allowFrom);
      if (JSON.stringify(merged) !== JSON.stringify(have.allowFrom)) set(["channels", channel, "allowFrom"], merged);
    }
    for (const [account, a] of Object.entries(s.accounts ?? {})) {
      const haveAccount = ((have.accounts ?? {}) as Record<string, Record<string, unknown>>)[account] ?? {};
      if (a.dmPolicy !== undefined && haveAccount.dmPolicy !== a.dmPolicy) set(["channels", channel, "accounts", account, "dmPolicy"], a.dmPolicy);
      if (a.allowFrom !== undefined) {
        const merged = union(haveAccount.allowFrom, a.allowFrom);
        if (JSON.stringify(merged) !== JSON.stringify(haveAccount.allowFrom)) set(["channels", channel, "accounts", account, "allowFrom"], merged);
      }
    }
  }
  if (text === before) return false;
  try {
    parseConfigText(text, path);
  } catch (err) {
    throw new CliFailure(`not writing ${path}: the merged config would be invalid:\n${(err as Error).message}\nMerge the suggestion by hand (pairgate import … without --write-config prints it).`);
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
  return true;
}

const NODES_NOTE =
  "Nodes cannot be imported: pairgate nodes use a new protocol (Ed25519 challenge-response) and pairgate stores only token hashes. " +
  "Pair each node again: on the node run `pairgate-node pair --gateway <host:port>` (or the app's pairing screen), then `pairgate nodes pending` and `pairgate nodes approve <id>` here.";

/** Registers `pairgate import clawdbot|openclaw [--from DIR] [--dry-run] [--write-config] [--json]`. */
export function registerImportCommand(program: Command, ctx: CliContext): void {
  program
    .command("import")
    .description("move approvals, pending requests and DM policies over from Clawdbot or OpenClaw (one atomic write, idempotent)")
    .addArgument(program.createArgument("<from>", "clawdbot or openclaw").choices(["clawdbot", "openclaw"]))
    .option("--from <dir>", "the state dir (default $OPENCLAW_STATE_DIR / $CLAWDBOT_STATE_DIR, else ~/.openclaw / ~/.clawdbot)")
    .option("--dry-run", "check and report everything, write nothing")
    .option("--write-config", "merge dmPolicy/allowFrom into the pairgate config file (else they are printed as a suggestion)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (source: ImportSource, opts: { from?: string; dryRun?: boolean; writeConfig?: boolean; json?: boolean }) => {
        const dir = stateDirOf(source, opts.from);
        let contents;
        try {
          contents = readStateDir(source, dir);
        } catch (err) {
          throw new CliFailure((err as Error).message);
        }
        const dryRun = opts.dryRun === true;
        const summary = await sendImport(
          ctx.client(),
          source,
          contents.senders.map(({ channel, accountId, senderId }) => ({ channel, accountId, senderId })),
          contents.requests.map(({ channel, accountId, senderId, code, createdAtMs, meta }) => ({ channel, accountId, senderId, code, createdAtMs, senderMeta: meta })),
          dryRun,
        );
        const suggestion = { channels: contents.channels };
        const hasSuggestion = Object.keys(contents.channels).length > 0;
        let configPath = "";
        let configChanged = false;
        if (opts.writeConfig && hasSuggestion && !dryRun) {
          const { discoverConfig } = require("../../config/load") as typeof ConfigLoad;
          configPath = discoverConfig(ctx.home(), undefined) ?? join(ctx.home(), "config.json");
          configChanged = writeConfig(configPath, contents.channels);
        }
        if (opts.json) {
          ctx.out.json({
            source,
            dir,
            dryRun,
            sendersImported: summary.sendersImported,
            requestsImported: summary.requestsImported,
            batches: summary.batches,
            skipped: [
              ...summary.skipped.map((k) => ({ kind: k.kind, channel: k.channel, accountId: k.accountId, entry: k.senderId, reason: k.reason, file: "" })),
              ...contents.skipped.map((k) => ({ kind: "file", channel: "", accountId: "", entry: k.what, reason: k.reason, file: k.file })),
            ],
            configSuggestion: suggestion,
            configFile: configPath,
            configChanged,
            pairedNodesFound: contents.pairedNodes,
            nodes: NODES_NOTE,
          });
          return;
        }
        ctx.out.line(`Reading ${source} state from ${dir}`);
        printSummary(ctx, summary, dryRun, contents.skipped);
        if (hasSuggestion) {
          if (configPath !== "") {
            ctx.out.line(configChanged ? `Merged dmPolicy/allowFrom from ${contents.configFile} into ${configPath}. Apply it: systemctl --user reload pairgate, or kill -HUP <daemon pid> (pairgate status shows it).` : `${configPath} already holds the policies of ${contents.configFile}.`);
          } else {
            ctx.out.line(`Config suggestion from ${contents.configFile} (merge it into your pairgate config, or rerun with --write-config):`);
            ctx.out.line(JSON.stringify(suggestion, null, 2));
          }
        }
        ctx.out.line(contents.pairedNodes > 0 ? `${contents.pairedNodes} paired node(s) found. ${NODES_NOTE}` : NODES_NOTE);
      }),
    );
}

/** `pairing add <channel> --from-file F`: every id of F in one ImportState call (source "file"). */
export async function addFromFile(ctx: CliContext, channel: string, accountId: string, file: string, json: boolean): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { ids, malformed } = readSenderFile(text);
  if (ids.length === 0 && malformed.length === 0) throw new UsageError(`${file} holds no sender ids (one per line, or a JSON array)`);
  const summary = await sendImport(ctx.client(), "file", ids.map((senderId) => ({ channel, accountId, senderId })), [], false);
  const local = malformed.map((what) => ({ file, what, reason: "malformed entry (not a sender id)" }));
  if (json) {
    ctx.out.json({ added: summary.sendersImported, batches: summary.batches, skipped: [...summary.skipped.map((k) => ({ entry: k.senderId, reason: k.reason })), ...local.map((k) => ({ entry: k.what, reason: k.reason }))] });
    return;
  }
  ctx.out.line(`✅ Allowed ${summary.sendersImported} ${channel.trim().toLowerCase()} sender(s) from ${file}${summary.batches === 1 ? " in one atomic write" : ` in ${summary.batches} atomic writes`}.`);
  if (summary.skipped.length + local.length > 0) {
    ctx.out.line(`Skipped ${summary.skipped.length + local.length}:`);
    ctx.out.table(["Entry", "Reason"], [...summary.skipped.map((k) => [safeText(k.senderId), k.reason]), ...local.map((k) => [safeText(k.what), k.reason])]);
  }
}
