import { InvalidArgumentError } from "./errors";

/** Display names: 1..64 characters (Unicode code points) after trimming, no control or format characters. */
export const MAX_DISPLAY_NAME_LENGTH = 64;

/**
 * A zero-width joiner inside an emoji sequence (👩‍💻 = U+1F469 U+200D U+1F4BB): emoji, optional
 * VS16 or skin tone, ZWJ, emoji. The only format (\p{Cf}) character node text may contain.
 */
const EMOJI_ZWJ = /(\p{Extended_Pictographic}[\u{FE0F}\u{1F3FB}-\u{1F3FF}]?)\u200D(?=\p{Extended_Pictographic})/gu;

/**
 * True when `s` contains a control character (\p{Cc}) or an invisible format character (\p{Cf}:
 * bidi overrides and isolates, zero-width space, word joiner, BOM, soft hyphen, tag characters, ZWNJ,
 * a ZWJ anywhere but between two emoji). docs/protocol.md §8 states the rule.
 */
export function hasInvisibleCharacters(s: string): boolean {
  return /[\p{Cc}\p{Cf}]/u.test(s.replace(EMOJI_ZWJ, "$1"));
}

/**
 * Normalizes a display name (trim) and checks it. Throws InvalidArgumentError naming `field`.
 */
export function normalizeDisplayName(raw: string, field = "display_name"): string {
  const name = raw.trim();
  if (name === "") throw new InvalidArgumentError(`${field} must not be empty`, field);
  if ([...name].length > MAX_DISPLAY_NAME_LENGTH) {
    throw new InvalidArgumentError(`${field} must be at most ${MAX_DISPLAY_NAME_LENGTH} characters`, field);
  }
  if (hasInvisibleCharacters(name)) {
    throw new InvalidArgumentError(`${field} must not contain control or invisible characters`, field);
  }
  return name;
}

/** Node ids are 64 lowercase hex characters. Throws InvalidArgumentError. */
export function checkNodeId(nodeId: string, field = "node_id"): void {
  if (!/^[0-9a-f]{64}$/.test(nodeId)) throw new InvalidArgumentError(`${field} must be 64 lowercase hex characters`, field);
}

/** Request ids are 32 lowercase hex characters. Throws InvalidArgumentError. */
export function checkRequestId(requestId: string): void {
  if (!/^[0-9a-f]{32}$/.test(requestId)) {
    throw new InvalidArgumentError("request_id must be 32 lowercase hex characters", "request_id");
  }
}

/** An id prefix filter: at most `max` lowercase hex characters. Throws InvalidArgumentError. */
export function checkHexPrefix(prefix: string, max: number, field: string): void {
  if (prefix.length > max || !/^[0-9a-f]*$/.test(prefix)) {
    throw new InvalidArgumentError(`${field} must be at most ${max} lowercase hex characters`, field);
  }
}

/** Trims a device text field and checks its length (code points) and characters. Throws InvalidArgumentError. */
export function cleanText(raw: string, max: number, field: string): string {
  const s = raw.trim();
  if ([...s].length > max) throw new InvalidArgumentError(`${field} must be at most ${max} characters`, field);
  if (hasInvisibleCharacters(s)) throw new InvalidArgumentError(`${field} must not contain control or invisible characters`, field);
  return s;
}

/** Checks a node's capability list (at most 32 non-empty entries). Throws InvalidArgumentError. */
export function cleanCaps(caps: readonly string[]): string[] {
  if (caps.length > 32) throw new InvalidArgumentError("caps has more than 32 entries", "caps");
  return caps.map((c, i) => {
    const s = cleanText(c, 64, `caps[${i}]`);
    if (s === "") throw new InvalidArgumentError(`caps[${i}] must not be empty`, `caps[${i}]`);
    return s;
  });
}

/** The key range of every id starting with `prefix` (ids are lowercase hex). */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  // Ids are lowercase hex, so "\u00ff" sorts after every key that starts with `prefix`.
  return { gte: prefix, lt: prefix + "\u00ff" };
}

/** Page cursor of the node list. */
export function isAfterCursor(v: unknown): v is { after: string } {
  return typeof v === "object" && v !== null && typeof (v as { after?: unknown }).after === "string" && /^[0-9a-f]{64}$/.test((v as { after: string }).after);
}
