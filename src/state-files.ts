import { chmod, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "./domain/logger";

/** Thrown by {@link secureStateFiles} for a file with wrong permissions the daemon cannot repair. */
export class UnsafeFileModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeFileModeError";
  }
}

/** One path to check and the permission bits it must not have. */
export interface ModeRule {
  path: string;
  /** Bits that must be clear, e.g. 0o077 (nothing for group or others) or 0o022 (nobody else writes). */
  forbidden: number;
  /** What the path is, for messages ("TLS key", "state directory"). */
  what: string;
}

const octal = (mode: number): string => "0" + (mode & 0o777).toString(8).padStart(3, "0");

/**
 * Checks the state directory and everything under it (directories must be 0700, files 0600;
 * sockets and symbolic links are left alone: sockets carry their own modes, links are not followed)
 * plus `extra` (e.g. configured TLS key and certificate files). A path with forbidden bits is
 * chmod-ed when the daemon's user owns it (logged), and refused with UnsafeFileModeError otherwise,
 * naming the path, its owner and mode and the command that fixes it. Missing paths are skipped.
 */
export async function secureStateFiles(home: string, extra: readonly ModeRule[], log: Logger): Promise<void> {
  const rules: ModeRule[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    rules.push({ path: dir, forbidden: 0o077, what: depth === 0 ? "state directory" : "state directory entry" });
    if (depth > 4) return;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path, depth + 1);
      else if (e.isFile()) rules.push({ path, forbidden: 0o077, what: "state file" });
    }
  };
  await walk(home, 0);
  rules.push(...extra);
  const uid = process.getuid?.();
  for (const rule of rules) {
    let st;
    try {
      st = await lstat(rule.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    if (st.isSymbolicLink() || st.isSocket() || (st.mode & rule.forbidden) === 0) continue;
    const wanted = (st.mode & 0o777) & ~rule.forbidden;
    if (uid !== undefined && st.uid !== uid) {
      throw new UnsafeFileModeError(
        `${rule.what} ${rule.path} has mode ${octal(st.mode)} and is owned by uid ${st.uid}, not by pairgate's user (uid ${uid}), ` +
          `so pairgate will not repair it: run \`chmod ${octal(wanted)} ${rule.path}\` as its owner (or chown it to uid ${uid}) and start again`,
      );
    }
    await chmod(rule.path, wanted);
    log.warn("repaired file permissions", { path: rule.path, what: rule.what, was: octal(st.mode), now: octal(wanted) });
  }
}
