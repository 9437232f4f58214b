/* eslint-disable @typescript-eslint/no-require-imports */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type * as JsoncParser from "jsonc-parser";

/** The two layouts pairgate imports from (same file formats; different default dirs and config names). */
export type ImportSource = "clawdbot" | "openclaw";

/** One sender to allow, with where it came from. */
export interface SourceSender {
  channel: string;
  accountId: string;
  senderId: string;
  file: string;
}

/** One pending request with its code and creation time. */
export interface SourceRequest extends SourceSender {
  code: string;
  createdAtMs: number;
  meta: Record<string, string>;
}

/** Something in the state dir that cannot be imported, and why. */
export interface SourceSkip {
  file: string;
  what: string;
  reason: string;
}

/** One channel (account) of the reference config, as a pairgate config suggestion. */
export interface PolicySuggestion {
  dmPolicy?: string;
  allowFrom?: string[];
  accounts?: Record<string, { dmPolicy?: string; allowFrom?: string[] }>;
}

/** Everything read from a state dir. */
export interface StateDirContents {
  dir: string;
  senders: SourceSender[];
  requests: SourceRequest[];
  skipped: SourceSkip[];
  /** `channels` of a pairgate config built from the reference config's dmPolicy/allowFrom. */
  channels: Record<string, PolicySuggestion>;
  /** The reference config file read, or "" when there was none. */
  configFile: string;
  /** Paired nodes found (they cannot be imported). */
  pairedNodes: number;
}

/** The channels pairgate supports (kept equal to src/domain/channels.ts; a test checks). */
export const IMPORT_CHANNELS = ["telegram", "whatsapp", "signal", "imessage", "discord", "slack", "msteams", "googlechat", "bluebubbles"];
/** Channels whose reference config keeps the policy under `dm.policy` / `dm.allowFrom`. */
const DM_BLOCK_CHANNELS = new Set(["discord", "slack", "googlechat"]);

/**
 * The state dir to read: `--from`, else `$OPENCLAW_STATE_DIR` (openclaw) / `$CLAWDBOT_STATE_DIR` or
 * `$MOLTBOT_STATE_DIR` (clawdbot), else `~/.openclaw` / `~/.clawdbot`.
 */
export function stateDirOf(source: ImportSource, from: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (from !== undefined) return from;
  const fromEnv = source === "openclaw" ? env.OPENCLAW_STATE_DIR : (env.CLAWDBOT_STATE_DIR ?? env.MOLTBOT_STATE_DIR);
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return join(homedir(), source === "openclaw" ? ".openclaw" : ".clawdbot");
}

/** Parses JSON5-ish text (comments, trailing commas) with jsonc-parser; undefined when malformed. */
function parseLoose(text: string): unknown {
  const { parse } = require("jsonc-parser") as typeof JsoncParser;
  const errors: JsoncParser.ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  return errors.length === 0 ? value : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** An allowFrom entry as a string (numbers are ids too); undefined when it is not one. */
function entryText(v: unknown): string | undefined {
  if (typeof v === "string" && v.trim() !== "") return v.trim();
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return String(v);
  return undefined;
}

/**
 * Reads a Clawdbot/OpenClaw state dir: `credentials/<channel>-allowFrom.json` (legacy, unscoped: the
 * default account), `credentials/<channel>-<account>-allowFrom.json`, `credentials/<channel>-pairing.json`
 * (requests; `meta.accountId` picks the account) and dmPolicy/allowFrom from `clawdbot.json` /
 * `openclaw.json`. Malformed files and entries are skipped with a reason; nothing here throws except
 * for an unreadable state dir (Error naming it).
 */
export function readStateDir(source: ImportSource, dir: string, env: NodeJS.ProcessEnv = process.env): StateDirContents {
  if (!existsSync(dir)) throw new Error(`no ${source} state dir at ${dir} (use --from DIR, or set ${source === "openclaw" ? "OPENCLAW_STATE_DIR" : "CLAWDBOT_STATE_DIR"})`);
  const out: StateDirContents = { dir, senders: [], requests: [], skipped: [], channels: {}, configFile: "", pairedNodes: 0 };
  const credentials = (source === "clawdbot" ? env.CLAWDBOT_OAUTH_DIR : undefined) ?? join(dir, "credentials");
  const files = existsSync(credentials) ? readdirSync(credentials).sort() : [];
  for (const name of files) {
    const file = join(credentials, name);
    const allow = /^([^-]+)(?:-(.+))?-allowFrom\.json$/.exec(name);
    const pairing = /^([^-]+)-pairing\.json$/.exec(name);
    if (allow === null && pairing === null) continue;
    const value = parseLoose(readFileSync(file, "utf8"));
    if (!isObject(value)) {
      out.skipped.push({ file, what: name, reason: "malformed file (not a JSON object)" });
      continue;
    }
    if (allow !== null) {
      const channel = (allow[1] ?? "").toLowerCase();
      const accountId = allow[2] ?? "default";
      if (!Array.isArray(value.allowFrom)) {
        out.skipped.push({ file, what: name, reason: 'malformed file (no "allowFrom" list)' });
        continue;
      }
      for (const entry of value.allowFrom) {
        const id = entryText(entry);
        if (id === undefined) out.skipped.push({ file, what: JSON.stringify(entry) ?? String(entry), reason: "malformed entry (not a sender id)" });
        else if (id === "*") out.skipped.push({ file, what: "*", reason: '"*" in a store file is never imported (a wildcard belongs in config allowFrom with dmPolicy "open")' });
        else out.senders.push({ channel, accountId, senderId: id, file });
      }
      continue;
    }
    const channel = (pairing?.[1] ?? "").toLowerCase();
    if (!Array.isArray(value.requests)) {
      out.skipped.push({ file, what: name, reason: 'malformed file (no "requests" list)' });
      continue;
    }
    for (const r of value.requests) {
      const id = isObject(r) ? entryText(r.id) : undefined;
      const createdAtMs = isObject(r) && typeof r.createdAt === "string" ? Date.parse(r.createdAt) : NaN;
      if (!isObject(r) || id === undefined || typeof r.code !== "string" || !Number.isFinite(createdAtMs)) {
        out.skipped.push({ file, what: JSON.stringify(r)?.slice(0, 80) ?? "", reason: "malformed request (needs id, code and createdAt)" });
        continue;
      }
      const meta: Record<string, string> = {};
      let accountId = "default";
      if (isObject(r.meta)) {
        for (const [k, v] of Object.entries(r.meta)) {
          const text = typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
          if (k === "accountId") accountId = text === "" ? "default" : text.toLowerCase();
          // Only what pairgate keeps (16 entries, keys ≤ 64, values ≤ 256 characters); the rest is display data.
          else if (text !== "" && k.length <= 64 && text.length <= 256 && Object.keys(meta).length < 16) meta[k] = text;
        }
      }
      out.requests.push({ channel, accountId, senderId: id, code: r.code, createdAtMs, meta, file });
    }
  }
  readConfig(source, dir, out);
  const paired = join(dir, "nodes", "paired.json");
  if (existsSync(paired)) {
    const v = parseLoose(readFileSync(paired, "utf8"));
    out.pairedNodes = isObject(v) ? Object.keys(v).length : 0;
  }
  return out;
}

/** dmPolicy/allowFrom of the reference config, per channel and account, into `out.channels`. */
function readConfig(source: ImportSource, dir: string, out: StateDirContents): void {
  const file = join(dir, source === "openclaw" ? "openclaw.json" : "clawdbot.json");
  if (!existsSync(file)) return;
  out.configFile = file;
  const value = parseLoose(readFileSync(file, "utf8"));
  if (!isObject(value)) {
    out.skipped.push({ file, what: "config", reason: "malformed config file" });
    return;
  }
  if (!isObject(value.channels)) return;
  const policyOf = (channel: string, c: Record<string, unknown>): { dmPolicy?: string; allowFrom?: string[] } => {
    const block = DM_BLOCK_CHANNELS.has(channel) && isObject(c.dm) ? c.dm : c;
    const policy = block.policy ?? block.dmPolicy ?? c.dmPolicy;
    const result: { dmPolicy?: string; allowFrom?: string[] } = {};
    if (typeof policy === "string" && ["pairing", "allowlist", "open", "disabled"].includes(policy)) result.dmPolicy = policy;
    else if (policy !== undefined) out.skipped.push({ file, what: `channels.${channel} dmPolicy ${JSON.stringify(policy)}`, reason: "unknown dmPolicy" });
    const allow = block.allowFrom ?? c.allowFrom;
    if (Array.isArray(allow)) {
      result.allowFrom = [];
      for (const e of allow) {
        const id = entryText(e);
        if (id === undefined) out.skipped.push({ file, what: `channels.${channel}.allowFrom ${JSON.stringify(e)}`, reason: "malformed entry" });
        else result.allowFrom.push(id);
      }
    } else if (typeof allow === "string" && allow.trim() !== "") result.allowFrom = [allow.trim()];
    // pairgate accepts "*" only with dmPolicy "open" (the reference let it widen pairing to open).
    if (result.allowFrom?.includes("*") === true && result.dmPolicy !== "open") {
      out.skipped.push({ file, what: `channels.${channel} allowFrom "*"`, reason: 'pairgate accepts "*" only with dmPolicy "open"; left out (set dmPolicy "open" if you want everyone)' });
      result.allowFrom = result.allowFrom.filter((e) => e !== "*");
    }
    return result;
  };
  for (const [rawChannel, c] of Object.entries(value.channels)) {
    const channel = rawChannel.toLowerCase();
    if (!isObject(c)) continue;
    if (!IMPORT_CHANNELS.includes(channel)) {
      out.skipped.push({ file, what: `channels.${rawChannel}`, reason: "unknown channel (pairgate supports " + IMPORT_CHANNELS.join(", ") + ")" });
      continue;
    }
    const suggestion: PolicySuggestion = policyOf(channel, c);
    if (isObject(c.accounts)) {
      for (const [account, a] of Object.entries(c.accounts)) {
        if (!isObject(a)) continue;
        const p = policyOf(channel, a);
        if (p.dmPolicy !== undefined || p.allowFrom !== undefined) (suggestion.accounts ??= {})[account.toLowerCase()] = p;
      }
    }
    if (Object.keys(suggestion).length > 0) out.channels[channel] = suggestion;
  }
}

/** Sender ids of a `--from-file`: one per line (blank lines and `#` comments ignored), or a JSON array. */
export function readSenderFile(text: string): { ids: string[]; malformed: string[] } {
  const trimmed = text.trim();
  const ids: string[] = [];
  const malformed: string[] = [];
  if (trimmed.startsWith("[")) {
    const value = parseLoose(trimmed);
    if (!Array.isArray(value)) return { ids, malformed: ["(not a JSON array)"] };
    for (const e of value) {
      const id = entryText(e);
      if (id === undefined) malformed.push(JSON.stringify(e) ?? String(e));
      else ids.push(id);
    }
    return { ids, malformed };
  }
  for (const line of text.split(/\r?\n/)) {
    const id = line.trim();
    if (id !== "" && !id.startsWith("#")) ids.push(id);
  }
  return { ids, malformed };
}
