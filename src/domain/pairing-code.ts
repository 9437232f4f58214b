import { randomInt } from "node:crypto";
import { InvalidArgumentError } from "./errors";

/** The 32 symbols of a DM pairing code: no 0, O, 1 or I. */
export const PAIRING_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/** Characters in a DM pairing code (32^8 = 2^40 codes). */
export const PAIRING_CODE_LENGTH = 8;
/** How many random codes to try before giving up on finding one that is not live. */
export const PAIRING_CODE_MAX_ATTEMPTS = 500;

/** A source of uniform random integers in [0, max); `crypto.randomInt` in production. */
export type RandomInt = (max: number) => number;

/** The default RandomInt: `crypto.randomInt`, uniform without modulo bias. */
export const cryptoRandomInt: RandomInt = (max) => randomInt(0, max);

/** Draws one pairing code from `rand`. */
export function generatePairingCode(rand: RandomInt = cryptoRandomInt): string {
  let code = "";
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) code += PAIRING_CODE_ALPHABET[rand(PAIRING_CODE_ALPHABET.length)];
  return code;
}

/** Exactly one code of the alphabet, after separators are removed and ASCII letters upper-cased. */
const CODE_SHAPE = /^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/;
/** The only separators a person may type: ASCII space, tab and hyphen-minus (nothing from Unicode). */
const CODE_SEPARATORS = /[ \t-]/g;

const HAS_ASCII_LOWER = /[a-z]/;
const ASCII_LOWER_RUNS = /[a-z]+/g;
const HAS_ASCII_UPPER = /[A-Z]/;
const ASCII_UPPER_RUNS = /[A-Z]+/g;

/**
 * Upper-cases ASCII letters only: every other character is kept exactly as it is, so no non-ASCII
 * character (ſ U+017F, the Kelvin sign U+212A, ligatures like ﬃ, fullwidth letters) can turn into an
 * ASCII one the way `String.prototype.toUpperCase` lets it.
 */
export function asciiUpper(s: string): string {
  return HAS_ASCII_LOWER.test(s) ? s.replace(ASCII_LOWER_RUNS, (m) => m.toUpperCase()) : s;
}

/** Lower-cases ASCII letters only (see {@link asciiUpper}). */
export function asciiLower(s: string): string {
  return HAS_ASCII_UPPER.test(s) ? s.replace(ASCII_UPPER_RUNS, (m) => m.toLowerCase()) : s;
}

/**
 * Canonicalizes a code as typed by a person: removes ASCII spaces, tabs and hyphens (no other
 * whitespace or invisible character), upper-cases ASCII letters only, then requires exactly 8
 * characters of the alphabet (no confusable folding). Throws InvalidArgumentError "malformed code"
 * (field `code`) otherwise.
 */
export function normalizePairingCode(input: string): string {
  const code = asciiUpper(input.replace(CODE_SEPARATORS, ""));
  if (!CODE_SHAPE.test(code)) {
    throw new InvalidArgumentError(
      `malformed code: a pairing code is ${PAIRING_CODE_LENGTH} characters from ${PAIRING_CODE_ALPHABET} (spaces and hyphens are ignored)`,
      "code",
    );
  }
  return code;
}
