import { InvalidArgumentError } from "./errors";

/** A chat channel that supports DM pairing. */
export interface ChannelSpec {
  /** Lower-case channel name, as used in config, RPCs and the CLI. */
  readonly id: string;
  /** Human label used in replies ("Telegram ID: 123"). */
  readonly label: string;
  /** Turns a raw sender id (or config allowFrom entry) into the canonical form the allowlist holds. */
  readonly normalizeSender: (raw: string) => string;
}

/** Characters never allowed in ids: controls and invisible format characters (bidi overrides, zero-width). */
const FORBIDDEN_CHARS = /[\p{Cc}\p{Cf}]/u;
/** Maximum sender id length after trimming. */
export const MAX_SENDER_ID_LENGTH = 256;

function stripPrefix(raw: string, prefix: RegExp): string {
  return raw.replace(prefix, "").trim();
}

/** E.164: "+" then 7..15 digits, no leading zero. Accepts spaces, dots, dashes, parentheses and a "00" prefix. */
function toE164(raw: string, channel: string): string {
  let s = raw.replace(/@(s\.whatsapp\.net|c\.us)$/i, "").replace(/[\s().-]/g, "");
  if (s.startsWith("00")) s = "+" + s.slice(2);
  if (!s.startsWith("+")) s = "+" + s;
  if (!/^\+[1-9]\d{6,14}$/.test(s)) {
    throw new InvalidArgumentError(
      `${channel} sender id must be a phone number in E.164 form (e.g. +15550001111), got "${raw}"`,
      "sender_id",
    );
  }
  return s;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function signalSender(raw: string): string {
  const s = stripPrefix(raw, /^signal:/i);
  const uuid = s.replace(/^uuid:/i, "");
  if (UUID.test(uuid)) return "uuid:" + uuid.toLowerCase();
  return toE164(s, "signal");
}

/** iMessage-style handles: e-mail addresses are lower-cased, phone numbers go to E.164, anything else is kept. */
function appleHandle(raw: string, prefix: RegExp, channel: string): string {
  const s = stripPrefix(raw, prefix);
  if (s.includes("@")) return s.toLowerCase();
  if (/^[+\d\s().-]+$/.test(s)) return toE164(s, channel);
  return s;
}

const SPECS: readonly ChannelSpec[] = [
  { id: "telegram", label: "Telegram", normalizeSender: (r) => stripPrefix(r, /^(telegram|tg):/i) },
  { id: "whatsapp", label: "WhatsApp", normalizeSender: (r) => toE164(stripPrefix(r, /^whatsapp:/i), "whatsapp") },
  { id: "signal", label: "Signal", normalizeSender: signalSender },
  { id: "imessage", label: "iMessage", normalizeSender: (r) => appleHandle(r, /^(imessage|imsg):/i, "imessage") },
  {
    id: "discord",
    label: "Discord",
    normalizeSender: (r) => stripPrefix(r, /^(discord|user):/i).replace(/^<@!?(\d+)>$/, "$1"),
  },
  { id: "slack", label: "Slack", normalizeSender: (r) => stripPrefix(r, /^(slack|user):/i).toUpperCase() },
  { id: "msteams", label: "Microsoft Teams", normalizeSender: (r) => stripPrefix(r, /^(msteams|user):/i) },
  { id: "googlechat", label: "Google Chat", normalizeSender: (r) => stripPrefix(r, /^googlechat:/i) },
  {
    id: "bluebubbles",
    label: "BlueBubbles",
    normalizeSender: (r) => appleHandle(r, /^bluebubbles:/i, "bluebubbles"),
  },
];

const BY_ID = new Map(SPECS.map((s) => [s.id, s]));

/** The names of every channel that supports pairing, in display order. */
export const SUPPORTED_CHANNELS: readonly string[] = SPECS.map((s) => s.id);

/**
 * Resolves a channel name case-insensitively.
 * Throws InvalidArgumentError "Channel x does not support pairing (supported: ...)" for anything else.
 */
export function resolveChannel(name: string): ChannelSpec {
  const spec = BY_ID.get(name.trim().toLowerCase());
  if (spec === undefined) {
    const shown = name.trim() === "" ? "(empty)" : name.trim();
    throw new InvalidArgumentError(
      `Channel ${shown} does not support pairing (supported: ${SUPPORTED_CHANNELS.join(", ")})`,
      "channel",
    );
  }
  return spec;
}

/** The account used when none is given. */
export const DEFAULT_ACCOUNT = "default";

/**
 * Normalizes a channel account id: trimmed, lower-cased, empty -> "default"; must match [a-z0-9_-]{1,64}.
 * Throws InvalidArgumentError otherwise.
 */
export function normalizeAccountId(raw: string): string {
  const s = raw.trim().toLowerCase();
  if (s === "") return DEFAULT_ACCOUNT;
  if (!/^[a-z0-9_-]{1,64}$/.test(s)) {
    throw new InvalidArgumentError(`account id must match [a-z0-9_-]{1,64}, got "${raw}"`, "account_id");
  }
  return s;
}

/**
 * Normalizes a sender id for `spec`: trims, rejects empty, over-long and control/format characters,
 * then applies the channel's rules. Throws InvalidArgumentError.
 */
export function normalizeSenderId(spec: ChannelSpec, raw: string): string {
  const trimmed = raw.trim();
  if (trimmed === "") throw new InvalidArgumentError("sender id is required", "sender_id");
  if (trimmed.length > MAX_SENDER_ID_LENGTH) {
    throw new InvalidArgumentError(`sender id is longer than ${MAX_SENDER_ID_LENGTH} characters`, "sender_id");
  }
  if (FORBIDDEN_CHARS.test(trimmed)) {
    throw new InvalidArgumentError("sender id contains control or invisible characters", "sender_id");
  }
  const normalized = spec.normalizeSender(trimmed);
  if (normalized === "" || normalized === "*") {
    throw new InvalidArgumentError(`"${raw}" is not a valid ${spec.id} sender id`, "sender_id");
  }
  return normalized;
}
