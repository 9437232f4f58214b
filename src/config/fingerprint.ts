import { createHash } from "node:crypto";
import { canonicalJson } from "../domain/canonical-json";
import type { Config } from "./schema";

/**
 * The config fingerprint: SHA-256 (lowercase hex) of the config without the keys that differ per
 * daemon by design — its sockets, log level, node listen address, TLS file paths (only whether TLS is
 * off, "auto" or files counts), certificate names and the storage settings. Daemons sharing one store
 * should report the same fingerprint; `pairgate doctor` warns when they do not (their DM policies or
 * limits differ, so callers get different answers depending on the daemon they reach). Never throws.
 */
export function configFingerprint(config: Config): string {
  const { listen: _listen, tls, tlsNames: _names, ...nodes } = config.nodes;
  const { socketPath: _socket, socketGroup: _group, ...adapters } = config.adapters;
  const shared = {
    dm: config.dm,
    channels: config.channels,
    audit: config.audit,
    adapters,
    nodes: { ...nodes, tls: tls === undefined ? "none" : tls === "auto" ? "auto" : "files" },
  };
  return createHash("sha256").update(canonicalJson(shared)).digest("hex");
}
