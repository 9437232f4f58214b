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

/**
 * Canonicalizes a code as typed by a person: trims, upper-cases, removes spaces and hyphens.
 * Throws InvalidArgumentError when the result is not 8 symbols of the alphabet (no confusable folding).
 */
export function normalizePairingCode(input: string): string {
  const code = input.trim().toUpperCase().replace(/[\s-]/g, "");
  if (code === "") throw new InvalidArgumentError("pairing code is required", "code");
  if (code.length !== PAIRING_CODE_LENGTH || [...code].some((c) => !PAIRING_CODE_ALPHABET.includes(c))) {
    throw new InvalidArgumentError(
      `pairing code must be ${PAIRING_CODE_LENGTH} characters from ${PAIRING_CODE_ALPHABET}`,
      "code",
    );
  }
  return code;
}
