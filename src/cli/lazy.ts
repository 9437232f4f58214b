/* eslint-disable @typescript-eslint/no-require-imports */
import type * as Clients from "../../clients/ts/operator";

/**
 * Module loading for a fast CLI: `main.ts` and the command registrations load only commander; each
 * command's action loads what it needs through these functions on first use. A command that never
 * calls them (e.g. `--version`, `completion`, `service --print`) never pays for grpc-js, the generated
 * code or the daemon (test/e2e/cli-startup.e2e.test.ts guards this).
 */
let clients: typeof Clients | undefined;

/** The operator part of the TS client (grpc-js and the generated messages), loaded on first call. */
export function loadClients(): typeof Clients {
  return (clients ??= require("../../clients/ts/operator") as typeof Clients);
}

/** The TS client if some command already loaded it, else undefined (error reporting must not load it). */
export function loadedClients(): typeof Clients | undefined {
  return clients;
}
