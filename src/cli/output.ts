import Table from "cli-table3";
import pc from "picocolors";

/** Where CLI output goes; tests and commands never write to process.stdout directly. */
export interface Output {
  /** Writes a line to stdout. */
  line(text?: string): void;
  /** Writes a line to stderr. */
  error(text: string): void;
  /** Prints `value` as 2-space JSON on stdout. */
  json(value: unknown): void;
  /** Renders a box-drawn table on stdout. */
  table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): void;
}

/** Colour helpers; plain text when NO_COLOR is set or stdout is not a terminal (picocolors decides). */
export const color = {
  ok: (s: string): string => pc.green(s),
  warn: (s: string): string => pc.yellow(s),
  err: (s: string): string => pc.red(s),
  dim: (s: string): string => pc.dim(s),
  bold: (s: string): string => pc.bold(s),
};

/** The process's Output. */
export function processOutput(): Output {
  const colored = pc.isColorSupported;
  return {
    line: (text = "") => void process.stdout.write(text + "\n"),
    error: (text) => void process.stderr.write(text + "\n"),
    json: (value) => void process.stdout.write(JSON.stringify(value, null, 2) + "\n"),
    table: (head, rows) => {
      const table = new Table({
        head: head.map((h) => (colored ? pc.bold(h) : h)),
        // cli-table3 colours borders itself even without a TTY; keep it plain unless colour is on.
        style: colored ? { head: [], border: ["grey"] } : { head: [], border: [] },
      });
      for (const row of rows) table.push([...row]);
      process.stdout.write(table.toString() + "\n");
    },
  };
}

/** Formats Unix ms as ISO-8601 UTC without milliseconds ("2026-01-27T10:30:00Z"); "" for 0. */
export function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z") : "";
}

/** Formats the time between `ms` and `now` as "12s", "5m", "3h", "2d". */
export function age(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Replaces control and invisible format characters so untrusted text cannot restyle the terminal. */
export function safeText(s: string): string {
  return s.replace(/[\p{Cc}\p{Cf}]/gu, "\uFFFD");
}
