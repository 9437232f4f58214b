import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { SCHEMA_VERSION } from "./keys";
import type { LevelStore } from "./level-store";

/** Backup file format version. */
export const BACKUP_FORMAT = 1;

/** The first line of a backup file. */
export interface BackupHeader {
  pairgate_backup: typeof BACKUP_FORMAT;
  schema_version: number;
  created_at_ms: number;
  gateway_id: string;
}

/** The last line: how many entry lines precede it and the SHA-256 of every byte before it. */
interface BackupTrailer {
  end: true;
  entries: number;
  sha256: string;
}

/** Thrown when a backup file is not one, is truncated, or fails its checksum. */
export class BackupFileError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path} is not a usable pairgate backup: ${reason}`);
    this.name = "BackupFileError";
  }
}

/**
 * Encodes a consistent snapshot of `store` as a backup file, in chunks of about 64 KiB: JSON lines,
 * a header, `[key, value]` per LevelDB entry (raw key `!sublevel!key`, value as stored JSON text), and
 * a trailer with the entry count and the SHA-256 of everything before it.
 */
export async function* encodeBackup(store: LevelStore, header: { gatewayId: string; nowMs: number }): AsyncIterable<Buffer> {
  const hash = createHash("sha256");
  let pending: string[] = [];
  let size = 0;
  const flush = (): Buffer => {
    const chunk = Buffer.from(pending.join(""), "utf8");
    hash.update(chunk);
    pending = [];
    size = 0;
    return chunk;
  };
  const first: BackupHeader = { pairgate_backup: BACKUP_FORMAT, schema_version: SCHEMA_VERSION, created_at_ms: header.nowMs, gateway_id: header.gatewayId };
  pending.push(JSON.stringify(first) + "\n");
  let entries = 0;
  for await (const entry of store.rawEntries()) {
    const line = JSON.stringify(entry) + "\n";
    pending.push(line);
    size += line.length;
    entries++;
    if (size >= 60_000) yield flush();
  }
  yield flush();
  const trailer: BackupTrailer = { end: true, entries, sha256: hash.digest("hex") };
  yield Buffer.from(JSON.stringify(trailer) + "\n", "utf8");
}

/** What a checked backup file holds. */
export interface BackupSummary {
  header: BackupHeader;
  entries: number;
}

/**
 * Reads the backup at `path` twice: first to check its header, trailer and checksum, then (only if
 * that passed) calling `onEntries` with batches of `[key, value]` entries. Throws BackupFileError.
 */
export async function readBackup(
  path: string,
  onEntries?: (batch: [string, string][]) => Promise<void>,
): Promise<BackupSummary> {
  const summary = await scan(path, undefined);
  if (onEntries !== undefined) await scan(path, onEntries);
  return summary;
}

async function scan(path: string, onEntries: ((batch: [string, string][]) => Promise<void>) | undefined): Promise<BackupSummary> {
  const hash = createHash("sha256");
  let header: BackupHeader | undefined;
  let trailer: BackupTrailer | undefined;
  let entries = 0;
  let batch: [string, string][] = [];
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (trailer !== undefined) throw new BackupFileError(path, "data after the trailer");
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new BackupFileError(path, `line ${entries + 2} is not JSON (damaged file?)`);
      }
      if (header === undefined) {
        const h = value as Partial<BackupHeader>;
        if (h.pairgate_backup !== BACKUP_FORMAT) throw new BackupFileError(path, "no pairgate backup header (format 1)");
        if (h.schema_version !== SCHEMA_VERSION) throw new BackupFileError(path, `schema version ${String(h.schema_version)} is not supported`);
        header = h as BackupHeader;
      } else if (!Array.isArray(value)) {
        trailer = value as BackupTrailer;
        continue;
      } else {
        if (value.length !== 2 || typeof value[0] !== "string" || typeof value[1] !== "string") {
          throw new BackupFileError(path, `line ${entries + 2} is not a [key, value] entry`);
        }
        entries++;
        if (onEntries !== undefined) {
          batch.push(value as [string, string]);
          if (batch.length >= 2000) {
            await onEntries(batch);
            batch = [];
          }
        }
      }
      hash.update(line + "\n", "utf8");
    }
  } catch (err) {
    if (err instanceof BackupFileError) throw err;
    throw new BackupFileError(path, (err as Error).message);
  } finally {
    lines.close();
  }
  if (header === undefined) throw new BackupFileError(path, "the file is empty");
  if (trailer?.end !== true) throw new BackupFileError(path, "the trailer is missing (truncated file?)");
  if (trailer.entries !== entries) throw new BackupFileError(path, `the trailer counts ${trailer.entries} entries, the file holds ${entries}`);
  if (trailer.sha256 !== hash.digest("hex")) throw new BackupFileError(path, "checksum mismatch (the file was changed or damaged)");
  if (onEntries !== undefined && batch.length > 0) await onEntries(batch);
  return { header, entries };
}
