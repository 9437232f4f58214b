import { InvalidArgumentError } from "./errors";
import { asciiLower, asciiUpper } from "./pairing-code";

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

// Every pattern below is ASCII-only and has no `i`+`u` flags (with `u`, /i folds ſ to s and the Kelvin
// sign to k): an id is either exactly what the channel uses or refused, and no non-ASCII character
// is ever folded onto an ASCII one.
const DIGITS = /^\d{1,20}$/;
const SLACK_ID = /^[A-Z0-9]{1,32}$/;
const PRINTABLE_ASCII = /^[\x21-\x7e]{1,256}$/;
const EMAIL = /^[\x21-\x3f\x41-\x7e]{1,64}@[\x21-\x3f\x41-\x7e]{1,190}$/;
const PHONE_LIKE = /^[+\d \t().-]+$/;
const PHONE_SEPARATORS = /[ \t().-]/g;
const E164 = /^\+[1-9]\d{6,14}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Whether char code `c` is an ASCII space, tab, CR or LF. */
function isEdgeSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Trims ASCII spaces, tabs and line breaks only (String.prototype.trim would also eat NBSP, U+3000, U+FEFF). */
export function asciiTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isEdgeSpace(s.charCodeAt(start))) start++;
  while (end > start && isEdgeSpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function stripPrefix(raw: string, prefix: RegExp): string {
  return asciiTrim(raw.replace(prefix, ""));
}

function invalid(channel: string, rule: string, raw: string): InvalidArgumentError {
  return new InvalidArgumentError(`${channel} sender id must be ${rule}, got "${raw}"`, "sender_id");
}

/** E.164: "+" then 7..15 digits, no leading zero. Accepts ASCII spaces, dots, dashes, parentheses and a "00" prefix. */
function toE164(raw: string, channel: string): string {
  let s = raw.replace(/@(s\.whatsapp\.net|c\.us)$/i, "").replace(PHONE_SEPARATORS, "");
  if (s.startsWith("00")) s = "+" + s.slice(2);
  if (!s.startsWith("+")) s = "+" + s;
  if (!E164.test(s)) throw invalid(channel, "a phone number in E.164 form (e.g. +15550001111)", raw);
  return s;
}

function numeric(raw: string, channel: string): string {
  if (!DIGITS.test(raw)) throw invalid(channel, "a numeric user id (ASCII digits only)", raw);
  return raw;
}

function signalSender(raw: string): string {
  const s = stripPrefix(raw, /^signal:/i);
  const uuid = s.replace(/^uuid:/i, "");
  if (UUID.test(uuid)) return "uuid:" + asciiLower(uuid);
  return toE164(s, "signal");
}

/**
 * iMessage-style handles: e-mail addresses (printable ASCII only; non-ASCII is refused, case folded
 * for ASCII letters only) or phone numbers in E.164; anything else is refused.
 */
function appleHandle(raw: string, prefix: RegExp, channel: string): string {
  const s = stripPrefix(raw, prefix);
  if (s.includes("@")) {
    if (!EMAIL.test(s)) throw invalid(channel, "an e-mail address of printable ASCII characters or a phone number", raw);
    return asciiLower(s);
  }
  if (PHONE_LIKE.test(s)) return toE164(s, channel);
  throw invalid(channel, "an e-mail address or a phone number", raw);
}

/** Opaque ids (Teams, Google Chat): printable ASCII, compared exactly as given. */
function opaque(raw: string, channel: string): string {
  if (!PRINTABLE_ASCII.test(raw)) throw invalid(channel, "printable ASCII without spaces", raw);
  return raw;
}

const SPECS: readonly ChannelSpec[] = [
  { id: "telegram", label: "Telegram", normalizeSender: (r) => numeric(stripPrefix(r, /^(telegram|tg):/i), "telegram") },
  { id: "whatsapp", label: "WhatsApp", normalizeSender: (r) => toE164(stripPrefix(r, /^whatsapp:/i), "whatsapp") },
  { id: "signal", label: "Signal", normalizeSender: signalSender },
  { id: "imessage", label: "iMessage", normalizeSender: (r) => appleHandle(r, /^(imessage|imsg):/i, "imessage") },
  {
    id: "discord",
    label: "Discord",
    normalizeSender: (r) => numeric(stripPrefix(r, /^(discord|user):/i).replace(/^<@!?(\d+)>$/, "$1"), "discord"),
  },
  {
    id: "slack",
    label: "Slack",
    normalizeSender: (r) => {
      const id = asciiUpper(stripPrefix(r, /^(slack|user):/i));
      if (!SLACK_ID.test(id)) throw invalid("slack", "a Slack user id of ASCII letters and digits (e.g. U012AB3CD)", r);
      return id;
    },
  },
  { id: "msteams", label: "Microsoft Teams", normalizeSender: (r) => opaque(stripPrefix(r, /^(msteams|user):/i), "msteams") },
  { id: "googlechat", label: "Google Chat", normalizeSender: (r) => opaque(stripPrefix(r, /^googlechat:/i), "googlechat") },
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
  const spec = BY_ID.get(asciiLower(asciiTrim(name)));
  if (spec === undefined) {
    const shown = asciiTrim(name) === "" ? "(empty)" : asciiTrim(name);
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
 * Normalizes a channel account id: ASCII-trimmed, ASCII lower-cased, empty -> "default"; must match
 * [a-z0-9_-]{1,64}. Throws InvalidArgumentError otherwise.
 */
export function normalizeAccountId(raw: string): string {
  const s = asciiLower(asciiTrim(raw));
  if (s === "") return DEFAULT_ACCOUNT;
  if (!/^[a-z0-9_-]{1,64}$/.test(s)) {
    throw new InvalidArgumentError(`account id must match [a-z0-9_-]{1,64}, got "${raw}"`, "account_id");
  }
  return s;
}

/**
 * Normalizes a sender id for `spec`: trims ASCII whitespace, rejects empty, over-long and
 * control/format characters, then applies the channel's rules (which accept ASCII only, see SPECS).
 * Throws InvalidArgumentError naming `sender_id`.
 */
export function normalizeSenderId(spec: ChannelSpec, raw: string): string {
  const trimmed = asciiTrim(raw);
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
