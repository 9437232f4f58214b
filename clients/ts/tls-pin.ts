/**
 * SPKI pinning for the node listener (docs/protocol.md §5). A pin is SHA-256 of the certificate's DER
 * SubjectPublicKeyInfo, written like HPKP: `sha256/<base64>`. It names the gateway's TLS key, not one
 * certificate, so it survives the gateway renewing its certificate (renewal keeps the key).
 */
import { createHash, X509Certificate } from "node:crypto";
import { checkServerIdentity, connect, type PeerCertificate } from "node:tls";
import { PairgateError } from "./errors";

/** The connection's certificate does not carry the pinned key: a different server (or a new key). */
export class TlsPinMismatchError extends PairgateError {
  constructor(message: string) {
    super("tls_pin_mismatch", message, undefined);
  }
}

/** The `sha256/<base64>` pin of a certificate (PEM or DER). */
export function spkiPinOf(cert: string | Buffer): string {
  const spki = new X509Certificate(cert).publicKey.export({ type: "spki", format: "der" });
  return `sha256/${createHash("sha256").update(spki).digest("base64")}`;
}

/** Accepts `sha256/<base64>` or 64 hex characters; returns the `sha256/<base64>` form. Throws TypeError. */
export function normalizePin(pin: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(pin)) return `sha256/${Buffer.from(pin, "hex").toString("base64")}`;
  if (/^sha256\/[A-Za-z0-9+/]{43}=$/.test(pin)) return pin;
  throw new TypeError(`"${pin}" is not an SPKI pin (expected sha256/<base64> or 64 hex characters, see: pairgate nodes tls)`);
}

/**
 * A checkServerIdentity for grpc-js / node:tls that keeps the normal host-name check and then also
 * requires the leaf to carry the pinned key.
 */
export function pinnedServerIdentity(pin: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const want = normalizePin(pin);
  return (host, cert) => {
    const hostError = checkServerIdentity(host, cert);
    if (hostError !== undefined) return hostError;
    const got = spkiPinOf(cert.raw);
    return got === want ? undefined : new TlsPinMismatchError(`gateway TLS key ${got} is not the pinned ${want}`);
  };
}

/**
 * Fetches the certificate the gateway at `address` ("host:port") presents and returns it (PEM) only
 * if its key matches `pin`: the node then uses exactly that certificate as its only root, with host
 * name checks on. This is how a pin survives renewal without ever trusting an unpinned key. Rejects
 * with TlsPinMismatchError for another key, or the socket error.
 */
export function fetchPinnedCertificate(address: string, pin: string, timeoutMs = 10_000): Promise<Buffer> {
  const want = normalizePin(pin);
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    // Chain validation is off for this one read-only probe: we send nothing and only look at the key.
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"], timeout: timeoutMs }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      const got = spkiPinOf(raw);
      if (got !== want) reject(new TlsPinMismatchError(`gateway ${address} presents TLS key ${got}, not the pinned ${want}`));
      else resolve(Buffer.from(new X509Certificate(raw).toString()));
    });
    socket.once("timeout", () => socket.destroy(new Error(`no TLS answer from ${address} within ${timeoutMs} ms`)));
    socket.once("error", reject);
  });
}
