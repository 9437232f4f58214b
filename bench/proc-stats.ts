import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * Reads a process's resource accounting from Linux /proc: CPU time from /proc/<pid>/stat
 * (utime + stime, in clock ticks) and memory from /proc/<pid>/status.
 */

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`; 100 if getconf is missing). */
export function clockTicks(): number {
  if (ticks !== undefined) return ticks;
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    ticks = Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    ticks = 100;
  }
  return ticks;
}

/** CPU time (user + system) `pid` has used so far, in µs. Throws if the process is gone. */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (comm) may contain spaces; everything after its closing parenthesis is space separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After comm: state is field 3, so utime (field 14) and stime (field 15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / clockTicks();
}

/**
 * A field of /proc/<pid>/status in kB: "VmHWM" (peak resident set), "VmRSS" (current), and the current
 * split of VmRSS into "RssAnon" (heap and other private memory) and "RssFile" (file-backed pages, e.g.
 * LevelDB's memory-mapped table files, which the kernel can drop under pressure).
 */
export function statusKb(pid: number, field: "VmHWM" | "VmRSS" | "RssAnon" | "RssFile"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}
