/* eslint-disable @typescript-eslint/no-require-imports */
import type TableType from "cli-table3";

/** Where CLI output goes; tests and commands never write to process.stdout directly. */
export interface Output {
  /** Writes a line to stdout. */
  line(text?: string): void;
  /** Writes a line to stderr. */
  error(text: string): void;
  /** Prints `value` as 2-space JSON on stdout (see README "JSON output" for the shapes). */
  json(value: unknown): void;
  /**
   * Prints a table on stdout: box-drawn for a person (stdout is a terminal), plain tab-separated
   * columns with one header line for pipes (no box drawing, no colour; tabs and newlines inside cells
   * become spaces).
   */
  table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): void;
  /** Whether stdout is a terminal (people) rather than a pipe or file (scripts). */
  readonly interactive: boolean;
}

/** Whether colour is on: stdout is a terminal and NO_COLOR is unset or empty (https://no-color.org). */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  const noColor = process.env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === "") && process.env.TERM !== "dumb";
}

const sgr = (open: number, close: number) => (s: string): string =>
  colorEnabled() ? `\u001b[${open}m${s}\u001b[${close}m` : s;

/** Colour helpers; plain text when NO_COLOR is set or stdout is not a terminal. */
export const color = {
  ok: sgr(32, 39),
  warn: sgr(33, 39),
  err: sgr(31, 39),
  dim: sgr(2, 22),
  bold: sgr(1, 22),
};

/** Renders rows as tab-separated values with a header line (what pipes get instead of a box table). */
export function tsv(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cell = (s: string): string => s.replace(/[\t\r\n]/g, " ");
  return [head, ...rows].map((r) => r.map(cell).join("\t")).join("\n") + "\n";
}

/** The process's Output. */
export function processOutput(): Output {
  const interactive = process.stdout.isTTY === true;
  return {
    interactive,
    line: (text = "") => void process.stdout.write(text + "\n"),
    error: (text) => void process.stderr.write(text + "\n"),
    json: (value) => void process.stdout.write(JSON.stringify(value, null, 2) + "\n"),
    table: (head, rows) => {
      if (!interactive) {
        process.stdout.write(tsv(head, rows));
        return;
      }
      // cli-table3 is only loaded when a person is looking.
      const Table = require("cli-table3") as typeof TableType;
      const colored = colorEnabled();
      const table = new Table({
        head: head.map((h) => color.bold(h)),
        // cli-table3 colours borders itself; keep it plain unless colour is on.
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

/**
 * A channel or account name as the CLI compares it: ASCII spaces and tabs trimmed, ASCII letters
 * lower-cased, nothing else folded (the daemon's rule; `toLowerCase` would turn the Kelvin sign into k).
 */
export function foldName(name: string): string {
  return name.replace(/^[ \t]+|[ \t]+$/g, "").replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
