import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * What LevelDB reported while opening the database at `location`, read from its info log `LOG`
 * (rewritten by every open). LevelDB recovers a damaged write-ahead log silently: without
 * `paranoid_checks` (which classic-level does not expose) it drops the damaged records, logs
 * "dropping N bytes; Corruption: checksum mismatch" there, and opens. Returns those lines (empty when
 * the open was clean or LOG is missing).
 */
export async function recoveryProblems(location: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(location, "LOG"), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => /Corruption|dropping \d+ bytes|ignoring error|Ignoring error/.test(line))
    .map((line) => line.replace(/^\S+ \S+ /, "").trim());
}
