import { readFileSync } from "node:fs";
import type { Server } from "@grpc/grpc-js";
import { DaemonStartError } from "./daemon-errors";
import { bindUnixSocket, NotASocketError, removeStaleSocket } from "./transport/grpc/server";

/** `adapters.channels` as a set; undefined = every channel. */
export function channelSet(channels: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return channels === undefined ? undefined : new Set(channels);
}

/**
 * Replaces a stale socket at `path` and binds `server` there with `access`. Throws DaemonStartError
 * naming the config key when something other than a socket is at the path or bind/chown/chmod fail.
 */
export async function listenUnix(
  server: Server,
  path: string,
  access: { mode: 0o600 | 0o660; gid?: number | undefined },
  key: string,
  what: string,
  defaultText: string,
): Promise<void> {
  try {
    await removeStaleSocket(path);
  } catch (err) {
    if (err instanceof NotASocketError) {
      throw new DaemonStartError(
        `${what} path ${path} (${key}) exists and is ${err.kind}, not a stale socket; pairgate only ever replaces a socket. ` +
          `Move that file away, or set "${key}" to another path`,
        { cause: err },
      );
    }
    throw err;
  }
  await bindUnixSocket(server, path, access).catch((err: unknown) => {
    const eperm = (err as NodeJS.ErrnoException).code === "EPERM" && access.gid !== undefined;
    throw new DaemonStartError(
      eperm
        ? `cannot give ${what} ${path} the group ${access.gid} (adapters.socketGroup): pairgate's user is not a member of that group; add it to the group or change adapters.socketGroup`
        : `cannot listen on ${what} ${path} (${key}): ${err instanceof Error ? err.message : String(err)}; ` +
            `check that its directory exists and is writable, or remove "${key}" from the config to use ${defaultText}`,
      { cause: err },
    );
  });
}

/**
 * The gid of `adapters.socketGroup` (a name looked up in /etc/group, or a number); undefined (the
 * daemon's own group) when unset. Throws DaemonStartError for an unknown group name.
 */
export function resolveGroup(group: string | number | undefined, source: string): number | undefined {
  if (group === undefined || typeof group === "number") return group;
  let lines: string[] = [];
  try {
    lines = readFileSync("/etc/group", "utf8").split("\n");
  } catch {
    // no /etc/group: fall through to "unknown group"
  }
  for (const line of lines) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new DaemonStartError(
    `adapters.socketGroup "${group}" (config ${source}) is not a group in /etc/group; create it or give its numeric gid`,
  );
}
