/**
 * The invite URI (docs/protocol.md §3b): what `pairgate nodes invite` prints and shows as a QR code.
 *
 *     pairgate://pair?v=1&gateway_id=<64 hex>&addr=<host:port>[&addr=…][&tls_pin=<64 hex>]
 *                    &invite_id=<16 hex>&secret=<base64url, 43 chars>[&name=<text>]
 *
 * Query parameters are application/x-www-form-urlencoded (URLSearchParams), in this order. Nodes parse
 * it with clients/ts/invite-uri.ts (which has its own formatter; a test checks both agree).
 */

/** The URI scheme and path, and the format version this gateway writes. */
export const INVITE_URI_PREFIX = "pairgate://pair?";
export const INVITE_URI_VERSION = 1;

/** What an invite URI carries. */
export interface InviteUriFields {
  gatewayId: string;
  /** Node listener addresses, "host:port" ("[v6]:port"), at least one. */
  addresses: readonly string[];
  /** SHA-256 of the node listener's TLS SPKI (32 bytes), or empty without TLS. */
  tlsSpkiSha256: Uint8Array;
  inviteId: string;
  /** The raw 32-byte setup secret. */
  secret: Uint8Array;
  /** The suggested display name ("" = none). */
  name: string;
}

/** Formats the invite URI. Never throws for valid fields. */
export function formatInviteUri(f: InviteUriFields): string {
  const q = new URLSearchParams();
  q.append("v", String(INVITE_URI_VERSION));
  q.append("gateway_id", f.gatewayId);
  for (const a of f.addresses) q.append("addr", a);
  if (f.tlsSpkiSha256.length > 0) q.append("tls_pin", Buffer.from(f.tlsSpkiSha256).toString("hex"));
  q.append("invite_id", f.inviteId);
  q.append("secret", Buffer.from(f.secret).toString("base64url"));
  if (f.name !== "") q.append("name", f.name);
  return INVITE_URI_PREFIX + q.toString();
}
