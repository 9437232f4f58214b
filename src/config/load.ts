import { readFileSync } from "node:fs";
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

/**
 * Validates a parsed JSON value as config and derives the DM policies.
 * Throws ConfigError naming each offending path.
 */
export function parseConfig(value: unknown, source = "(inline)"): LoadedConfig {
  const result = configSchema.safeParse(value);
  if (!result.success) throw new ConfigError(`invalid config ${source}:\n${describe(result.error)}`);
  try {
    const policies = new DmPolicies(result.data.channels);
    return { config: result.data, policies, source };
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new ConfigError(`invalid config ${source}:\n  ${err.field ?? "(root)"}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Loads the config file at `path`, or the embedded default when `path` is undefined.
 * Throws ConfigError for a missing or unreadable file, bad JSON, or invalid content.
 */
export function loadConfig(path: string | undefined): LoadedConfig {
  if (path === undefined) return parseConfig({}, "(defaults)");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(json, path);
}
