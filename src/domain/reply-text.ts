/** What an unknown sender is sent when a pairing code is created (config `dm.unpairedResponse`). */
export type UnpairedResponse = "branded" | "code-only" | "silent";

/** The placeholders a `dm.replyTemplate` may use. */
export const REPLY_PLACEHOLDERS = ["code", "channel", "idLine", "approveCommand", "product"] as const;

/** The default branded reply (the reference's text), as a template. */
export const DEFAULT_REPLY_TEMPLATE = [
  "{product}: access not configured.",
  "",
  "{idLine}",
  "",
  "Pairing code: {code}",
  "",
  "Ask the bot owner to approve with:",
  "{approveCommand}",
].join("\n");

/** The placeholders of `template` that are not in {@link REPLY_PLACEHOLDERS} (typos such as `{Code}`). */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(REPLY_PLACEHOLDERS);
  return [...template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? "").filter((name) => !known.has(name));
}

/** Everything a pairing reply can mention. */
export interface ReplyFacts {
  product: string;
  /** Channel id, e.g. "telegram". */
  channel: string;
  /** Channel label, e.g. "Telegram". */
  channelLabel: string;
  accountId: string;
  senderId: string;
  code: string;
}

/**
 * The text sent to an unknown sender who just got a pairing code: "" for `silent` (the owner still sees
 * the request in `pairing list`), `Pairing code: <code>` for `code-only`, else `template` (default:
 * {@link DEFAULT_REPLY_TEMPLATE}) with its placeholders filled in. Never throws.
 */
export function pairingReplyText(mode: UnpairedResponse, template: string | undefined, facts: ReplyFacts): string {
  if (mode === "silent") return "";
  if (mode === "code-only") return `Pairing code: ${facts.code}`;
  const account = facts.accountId === "default" ? "" : ` --account ${facts.accountId}`;
  const values: Record<string, string> = {
    code: facts.code,
    channel: facts.channel,
    idLine: `${facts.channelLabel} ID: ${facts.senderId}`,
    approveCommand: `${facts.product} pairing approve ${facts.channel} ${facts.code}${account}`,
    product: facts.product,
  };
  return (template ?? DEFAULT_REPLY_TEMPLATE).replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => values[name] ?? whole);
}
