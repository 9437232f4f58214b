/** Severity of a log line, in increasing order. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields attached to a log line. Never put secrets here: tokens, nonces, full codes. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Logger writes structured log lines. Implementations never throw. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options for {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void;
  /** Time source for the `time` field. @default Date.now */
  now?: () => number;
}

/** createJsonLogger returns a Logger that writes one JSON object per line. */
export function createJsonLogger(options: JsonLoggerOptions = {}, base: LogFields = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    try {
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...base, ...fields }) + "\n");
    } catch {
      // A logger never throws.
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createJsonLogger(options, { ...base, ...fields }),
  };
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
