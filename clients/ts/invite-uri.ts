/**
 * The invite URI a gateway owner hands to a phone (`pairgate nodes invite`, usually as a QR code),
 * specified in docs/protocol.md §3b:
 *
 *     pairgate://pair?v=1&gateway_id=<64 hex>&addr=<host:port>[&addr=…][&tls_pin=<64 hex>]
 *                    &invite_id=<16 hex>&secret=<base64url of 32 bytes>[&name=<text>]
 *
 * Unknown parameters are ignored (later versions may add some); a missing or malformed known one is
 * an error. The daemon formats it in src/domain/node-invite-uri.ts; a test checks both agree.
 */

/** An invite URI, parsed. */
export interface InviteUri {
  gatewayId: string;
  /** Node listener addresses to try in order, "host:port" ("[v6]:port"). */
  addresses: string[];
  /** The TLS SPKI pin as `sha256/<base64>` (what NodeGatewayClient takes), or "" for a plaintext listener. */
  tlsPin: string;
  inviteId: string;
  /** The raw 32-byte setup secret. Secret: never log it, never send it. */
  secret: Uint8Array;
  /** The suggested display name ("" = none). */
  name: string;
}

/** The URI is not a valid pairgate invite; the message names the parameter. */
export class InviteUriError extends Error {}

const PREFIX = "pairgate://pair?";
const HEX64 = /^[0-9a-f]{64}$/;
const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):[1-9][0-9]{0,4}$/;

function one(q: URLSearchParams, name: string, pattern: RegExp, what: string): string {
  const all = q.getAll(name);
  if (all.length !== 1) throw new InviteUriError(`invite URI: "${name}" must appear exactly once (${what})`);
  const v = all[0]!;
  if (!pattern.test(v)) throw new InviteUriError(`invite URI: "${name}" must be ${what}`);
  return v;
}

/** Parses an invite URI. Throws InviteUriError naming the offending parameter. */
export function parseInviteUri(uri: string): InviteUri {
  const text = uri.trim();
  if (!text.startsWith(PREFIX)) throw new InviteUriError(`not a pairgate invite URI (expected it to start with ${PREFIX})`);
  const q = new URLSearchParams(text.slice(PREFIX.length));
  const version = one(q, "v", /^[0-9]+$/, "the format version");
  if (version !== "1") throw new InviteUriError(`invite URI version ${version} is not supported (this node speaks 1); update the app`);
  const gatewayId = one(q, "gateway_id", HEX64, "64 lowercase hex characters");
  const addresses = q.getAll("addr");
  if (addresses.length === 0) throw new InviteUriError('invite URI: "addr" is missing (the gateway\'s node listener, host:port)');
  for (const a of addresses) {
    if (!ADDRESS.test(a) || Number(a.slice(a.lastIndexOf(":") + 1)) > 65535) throw new InviteUriError(`invite URI: "addr" ${JSON.stringify(a)} is not host:port`);
  }
  const pins = q.getAll("tls_pin");
  if (pins.length > 1 || (pins.length === 1 && !HEX64.test(pins[0]!))) throw new InviteUriError('invite URI: "tls_pin" must be 64 lowercase hex characters, at most once');
  const inviteId = one(q, "invite_id", /^[0-9a-f]{16}$/, "16 lowercase hex characters");
  const secretText = one(q, "secret", /^[A-Za-z0-9_-]{43}$/, "base64url (no padding) of 32 bytes");
  const secret = new Uint8Array(Buffer.from(secretText, "base64url"));
  if (secret.length !== 32 || Buffer.from(secret).toString("base64url") !== secretText) {
    throw new InviteUriError('invite URI: "secret" must be base64url (no padding) of 32 bytes');
  }
  const names = q.getAll("name");
  if (names.length > 1 || [...(names[0] ?? "")].length > 64) throw new InviteUriError('invite URI: "name" must be at most 64 characters, at most once');
  return {
    gatewayId,
    addresses,
    tlsPin: pins.length === 0 ? "" : `sha256/${Buffer.from(pins[0]!, "hex").toString("base64")}`,
    inviteId,
    secret,
    name: names[0] ?? "",
  };
}

/** Formats an invite URI (the inverse of {@link parseInviteUri}). */
export function formatInviteUri(i: InviteUri): string {
  const q = new URLSearchParams();
  q.append("v", "1");
  q.append("gateway_id", i.gatewayId);
  for (const a of i.addresses) q.append("addr", a);
  if (i.tlsPin !== "") q.append("tls_pin", Buffer.from(i.tlsPin.replace(/^sha256\//, ""), "base64").toString("hex"));
  q.append("invite_id", i.inviteId);
  q.append("secret", Buffer.from(i.secret).toString("base64url"));
  if (i.name !== "") q.append("name", i.name);
  return PREFIX + q.toString();
}
