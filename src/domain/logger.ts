/** Severity of a log line, in increasing order. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The log levels, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** How log lines look: `json` (one object per line, for collectors) or `text` (for people). */
export type LogFormat = "json" | "text";

/** Structured fields attached to a log line. Never put secrets here: tokens, nonces, full codes. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Logger writes structured log lines. Implementations never throw. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (and shares this logger's level). */
  child(fields: LogFields): Logger;
}

/** A root logger whose level can change while it runs (config reload); its children follow. */
export interface LevelledLogger extends Logger {
  setLevel(level: LogLevel): void;
  level(): LogLevel;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** @default "json" */
  format?: LogFormat;
  /** Where lines go. @default {@link batchedStderr} */
  write?: (line: string) => void;
  /** Time source for the `time` field. @default Date.now */
  now?: () => number;
}

/** Renders a field value for the text format: bare when simple, JSON-quoted otherwise. */
function textValue(v: string | number | boolean | null): string {
  const s = String(v);
  return typeof v === "string" && (s === "" || /[\s"=\p{Cc}\p{Cf}]/u.test(s)) ? JSON.stringify(s) : s;
}

/** One line in the text format: `2026-01-27T10:30:00.000Z INFO  message key=value ...`. */
function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const kv = Object.entries(fields)
    .filter((e): e is [string, string | number | boolean | null] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return [time, level.toUpperCase().padEnd(5), msg.replace(/[\p{Cc}\p{Cf}]/gu, "\uFFFD"), ...kv].join(" ");
}

/**
 * createLogger returns a logger writing JSON lines or text lines; its level can be changed with
 * setLevel (children follow).
 */
export function createLogger(options: LoggerOptions = {}): LevelledLogger {
  let min: LogLevel = options.level ?? "info";
  const write = options.write ?? batchedStderr();
  const now = options.now ?? Date.now;
  const format = options.format ?? "json";
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (ORDER[level] < ORDER[min]) return;
      try {
        const time = new Date(now()).toISOString();
        const all = { ...base, ...fields };
        write((format === "text" ? textLine(time, level, msg, all) : JSON.stringify({ time, level, msg, ...all })) + "\n");
      } catch {
        // A logger never throws.
      }
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return { ...make({}), setLevel: (level) => void (min = level), level: () => min };
}

/**
 * A writer to process.stderr that joins the lines of one event-loop turn into one write (a busy
 * daemon logs a line per authentication; one write per line was a syscall each). Lines go out on the
 * next `setImmediate`, at 64 KiB, or at process exit, so a line is late by at most one turn and only a
 * SIGKILL can lose the lines of the turn it interrupts (the audit trail is written separately).
 * Every caller shares one buffer, so lines of several loggers keep their order.
 */
export function batchedStderr(): (line: string) => void {
  return (sharedStderr ??= makeBatchedStderr());
}

let sharedStderr: ((line: string) => void) | undefined;

function makeBatchedStderr(): (line: string) => void {
  let pending: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join("");
    pending = [];
    bytes = 0;
    process.stderr.write(text);
  };
  process.once("exit", flush);
  return (line) => {
    pending.push(line);
    bytes += line.length;
    if (bytes >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** createJsonLogger returns a Logger that writes one JSON object per line. */
export function createJsonLogger(options: Omit<LoggerOptions, "format"> = {}): Logger {
  return createLogger({ ...options, format: "json" });
}

/** A Logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** maskCode shows only the first two characters of a pairing code, for logs: `AB******`. */
export function maskCode(code: string): string {
  return code.length <= 2 ? "*".repeat(code.length) : code.slice(0, 2) + "*".repeat(code.length - 2);
}
