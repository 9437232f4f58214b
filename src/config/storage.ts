import type { Config } from "./schema";
import { ConfigError } from "./load";

/** The environment variable holding the PostgreSQL URL; it wins over the config file. */
export const STORAGE_URL_ENV = "PAIRGATE_STORAGE_URL";

/** The store the daemon should open, with the URL resolved from the environment or the file. */
export type StorageChoice =
  | { kind: "level" }
  | {
      kind: "postgres";
      url: string;
      tenant: string;
      /** Where the URL came from, for messages (never the URL itself: it may hold a password). */
      urlFrom: "env" | "config";
    };

/**
 * Resolves `storage` against the environment: a non-empty PAIRGATE_STORAGE_URL selects PostgreSQL and
 * wins over the file's URL. Throws ConfigError for `kind: "postgres"` without any URL, or a malformed
 * PAIRGATE_STORAGE_URL.
 */
export function resolveStorage(storage: Config["storage"], env: NodeJS.ProcessEnv, source: string): StorageChoice {
  const fromEnv = env[STORAGE_URL_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!/^postgres(ql)?:\/\//.test(fromEnv)) {
      throw new ConfigError(`${STORAGE_URL_ENV} must start with "postgres://" or "postgresql://"`);
    }
    return { kind: "postgres", url: fromEnv, tenant: storage.kind === "postgres" ? (storage.tenant ?? "") : "", urlFrom: "env" };
  }
  if (storage.kind === "level") return { kind: "level" };
  if (storage.url === undefined) {
    throw new ConfigError(`invalid config ${source}:\n  storage.url: required for kind "postgres" (or set ${STORAGE_URL_ENV})`);
  }
  return { kind: "postgres", url: storage.url, tenant: storage.tenant ?? "", urlFrom: "config" };
}
