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

/** What pairgate keeps in its state directory: checked recursively (everything else there is left alone). */
const STATE_ENTRIES = ["db", "node-tls", "config.json"];

/**
 * Checks the state directory itself and what pairgate keeps in it (`db/`, `node-tls/`, `config.json`;
 * directories must have no group/other bits (0700), files likewise (0600); sockets and symbolic links
 * are left alone: sockets carry their own modes, links are not followed) plus `extra` (configured TLS
 * key and certificate files). A path with forbidden bits is chmod-ed when the daemon's user owns it
 * (logged), and refused with UnsafeFileModeError otherwise, naming the path, its owner and mode and
 * the command that fixes it. Missing paths are skipped. Other files in the directory are not touched
 * (PAIRGATE_HOME may be a directory the owner uses for more than pairgate).
 */
export async function secureStateFiles(home: string, extra: readonly ModeRule[], log: Logger): Promise<void> {
  const rules: ModeRule[] = [{ path: home, forbidden: 0o077, what: "state directory" }];
  const walk = async (path: string, depth: number): Promise<void> => {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (st.isFile()) rules.push({ path, forbidden: 0o077, what: "state file" });
    if (!st.isDirectory()) return;
    rules.push({ path, forbidden: 0o077, what: "state directory" });
    if (depth > 3) return;
    for (const name of await readdir(path)) await walk(join(path, name), depth + 1);
  };
  for (const name of STATE_ENTRIES) await walk(join(home, name), 0);
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
