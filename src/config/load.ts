import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import type { z } from "zod";
import { DmPolicies } from "../domain/dm-policies";
import { InvalidArgumentError } from "../domain/errors";
import { type Config, configSchema } from "./schema";

/** Thrown when the config is unreadable or invalid; the message names every offending path. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** A validated config plus the policies derived from it. */
export interface LoadedConfig {
  config: Config;
  policies: DmPolicies;
  /** Where the config came from, for logs ("(defaults)" when no file was given). */
  source: string;
}

/** Formats a zod issue path as `channels.telegram.allowFrom[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += (out === "" ? "" : ".") + String(part);
  }
  return out === "" ? "(root)" : out;
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`).join("\n");
}

/** What to do after an invalid config; `source` is the file (or "(defaults)"). */
function fixHint(source: string): string {
  return source.startsWith("(")
    ? ""
    : `\nFix ${source === "" ? "the file" : source} (every key is described in the README, "Configuration"; \`pairgate init --force\` writes a fresh one) and start again.`;
}

/**
 * Validates a parsed JSON value as config and derives the DM policies.
 * Throws ConfigError naming each offending path.
 */
export function parseConfig(value: unknown, source = "(inline)"): LoadedConfig {
  const result = configSchema.safeParse(value);
  if (!result.success) throw new ConfigError(`invalid config ${source}:\n${describe(result.error)}${fixHint(source)}`);
  try {
    const policies = new DmPolicies(result.data.channels);
    return { config: result.data, policies, source };
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new ConfigError(`invalid config ${source}:\n  ${err.field ?? "(root)"}: ${err.message}${fixHint(source)}`, { cause: err });
    }
    throw err;
  }
}

/** The file name `pairgate serve` looks for in the state directory when `--config` is not given. */
export const CONFIG_FILE_NAME = "config.json";

/**
 * The config file to use: `explicit` (--config) when given, else `<home>/config.json` when it exists,
 * else undefined (embedded defaults). Never throws; a discovered path that cannot be read fails later
 * in {@link loadConfig} with the path in the message.
 */
export function discoverConfig(home: string, explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit;
  const candidate = join(home, CONFIG_FILE_NAME);
  try {
    statSync(candidate);
    return candidate;
  } catch {
    return undefined;
  }
}

/** 1-based line and column of `offset` in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split("\n");
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/**
 * Parses config text as JSONC: JSON plus `//` and `/* *\/` comments and trailing commas (Microsoft's
 * jsonc-parser, as VS Code uses for its settings). Throws ConfigError naming the file, line and column.
 */
export function parseConfigText(text: string, source: string): LoadedConfig {
  const errors: ParseError[] = [];
  const json: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  const [first] = errors;
  if (first !== undefined) {
    throw new ConfigError(
      `config file ${source} is not valid JSON (comments and trailing commas are fine): ` +
        `${lineColumn(text, first.offset)}: ${printParseErrorCode(first.error)}${fixHint(source)}`,
    );
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(`config file ${source} must hold one JSON object ({ ... })${fixHint(source)}`);
  }
  return parseConfig(json, source);
}

/**
 * Loads the config file at `path` (JSONC), or the embedded default when `path` is undefined.
 * Throws ConfigError for a missing or unreadable file, bad JSON, or invalid content; every message
 * names the file, the key and what to do.
 */
export function loadConfig(path: string | undefined): LoadedConfig {
  if (path === undefined) return parseConfig({}, "(defaults)");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOENT"
        ? "create it with `pairgate init` (or drop --config to run on the embedded defaults)"
        : code === "EACCES"
          ? "make it readable by the user running pairgate"
          : code === "EISDIR"
            ? "point --config at a file, not a directory"
            : "check the path";
    throw new ConfigError(`cannot read config file ${path}: ${code ?? (err as Error).message}; ${hint}`, { cause: err });
  }
  return parseConfigText(text, path);
}
