import { join } from "node:path";
import { DaemonStartError } from "./daemon-errors";
import type { Logger } from "./domain/logger";
import { AutoNodeTls, certificateHosts, fileNodeTls, type NodeTls } from "./transport/grpc/node-tls";

/** Splits "host:port" / "[v6]:port" into its parts (the config schema has checked the shape). */
export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(listen.slice(i + 1)) };
}

/** True for localhost, ::1 and 127.0.0.0/8 (a node listener there may run without TLS). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The node listener's TLS: none without `nodes.tls`; the operator's PEM files; or for "auto" the
 * gateway's own leaf certificate in `<home>/node-tls/`, renewed in place (see AutoNodeTls). Throws
 * DaemonStartError when the files cannot be read or written.
 */
export async function startNodeTls(
  nodes: { tls?: { cert: string; key: string } | "auto" | undefined; tlsNames: string[] },
  home: string,
  host: string,
  log: Logger,
  sharedKey?: (candidate: string) => Promise<string>,
): Promise<NodeTls | undefined> {
  const tls = nodes.tls;
  if (tls === undefined) return undefined;
  try {
    if (tls !== "auto") return await fileNodeTls(tls.cert, tls.key);
    return await AutoNodeTls.start({
      dir: join(home, "node-tls"),
      hosts: () => certificateHosts(host, nodes.tlsNames),
      log,
      ...(sharedKey === undefined ? {} : { sharedKey }),
    });
  } catch (err) {
    const what = tls === "auto" ? `the auto certificate in ${join(home, "node-tls")}` : "nodes.tls cert or key";
    throw new DaemonStartError(`cannot set up ${what}: ${(err as Error).message}`, { cause: err });
  }
}
