/**
 * The bytes a node signs, built without node:crypto (SHA-256 from @noble/hashes), so the same code
 * runs in the reference node and anywhere else JavaScript runs. Byte-identical to the daemon's
 * src/domain/signed-payload.ts (a test checks it); docs/protocol.md specifies the format:
 *
 *     payload = "pairgate-node-auth\0" ‖ u16be(1) ‖ u8(purpose)
 *               ‖ lp(utf8(gateway_id)) ‖ lp(utf8(node_id)) ‖ lp(nonce) ‖ lp(body)
 *     lp(x)   = u32be(len(x)) ‖ x
 */
import { sha256 } from "@noble/hashes/sha2.js";

/** Signature purposes (one byte of the payload). */
export const NodeSignPurpose = { pairRequest: 1, claim: 2, connect: 3, rotate: 4, pairInvite: 5 } as const;

/** One of the {@link NodeSignPurpose} values. */
export type NodeSignPurposeValue = (typeof NodeSignPurpose)[keyof typeof NodeSignPurpose];

const TAG = new TextEncoder().encode("pairgate-node-auth\u0000");
const VERSION = 1;
const enc = new TextEncoder();

function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lp(bytes: Uint8Array): Uint8Array {
  return concat([u32(bytes.length), bytes]);
}

/** Builds the payload for `purpose` (see the file comment). */
export function nodeSignedPayload(
  purpose: NodeSignPurposeValue,
  gatewayId: string,
  nodeId: string,
  nonce: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  return tagged(TAG, purpose, gatewayId, nodeId, nonce, body);
}

function tagged(tag: Uint8Array, purpose: number, gatewayId: string, nodeId: string, nonce: Uint8Array, body: Uint8Array): Uint8Array {
  return concat([
    tag,
    new Uint8Array([VERSION >> 8, VERSION & 0xff, purpose]),
    lp(enc.encode(gatewayId)),
    lp(enc.encode(nodeId)),
    lp(nonce),
    lp(body),
  ]);
}

/** The fields of RequestPairing the PAIR_REQUEST signature covers, exactly as they will be sent. */
export interface PairRequestBodyFields {
  publicKey: Uint8Array;
  displayName: string;
  platform: string;
  version: string;
  deviceFamily: string;
  modelIdentifier: string;
  caps: readonly string[];
}

/** PAIR_REQUEST body: SHA-256 of lp(key) ‖ lp(name) ‖ lp(platform) ‖ lp(version) ‖ lp(family) ‖ lp(model) ‖ u32be(#caps) ‖ lp(cap)… */
export function pairRequestDigest(f: PairRequestBodyFields): Uint8Array {
  return sha256(pairRequestPreimage(f));
}

/** PAIR_INVITE body (docs/protocol.md §3b): SHA-256 of the PAIR_REQUEST preimage ‖ lp(utf8(invite_id)) ‖ lp(invite_proof). */
export function pairInviteDigest(f: PairRequestBodyFields, inviteId: string, inviteProof: Uint8Array): Uint8Array {
  return sha256(concat([pairRequestPreimage(f), lp(enc.encode(inviteId)), lp(inviteProof)]));
}

function pairRequestPreimage(f: PairRequestBodyFields): Uint8Array {
  return concat([
      lp(f.publicKey),
      lp(enc.encode(f.displayName)),
      lp(enc.encode(f.platform)),
      lp(enc.encode(f.version)),
      lp(enc.encode(f.deviceFamily)),
      lp(enc.encode(f.modelIdentifier)),
      u32(f.caps.length),
    ...f.caps.map((c) => lp(enc.encode(c))),
  ]);
}

/** CONNECT / ROTATE body: SHA-256 of the UTF-8 token (node token for CONNECT, session token for ROTATE). */
export function tokenDigest(token: string): Uint8Array {
  return sha256(enc.encode(token));
}

/** Gateway proof purposes (docs/protocol.md §7); never valid for a node payload, whose tag differs. */
export const GatewayProofPurpose = { challenge: 0x81, gatewayInfo: 0x82 } as const;

/** One of the {@link GatewayProofPurpose} values. */
export type GatewayProofPurposeValue = (typeof GatewayProofPurpose)[keyof typeof GatewayProofPurpose];

const GATEWAY_TAG = new TextEncoder().encode("pairgate-gateway-proof\u0000");

/**
 * The bytes the gateway signs for a proof: same layout as {@link nodeSignedPayload} with the tag
 * "pairgate-gateway-proof\0" (so a node signature never fits a gateway proof, nor the reverse).
 */
export function gatewayProofPayload(
  purpose: GatewayProofPurposeValue,
  gatewayId: string,
  nodeId: string,
  nonce: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  return tagged(GATEWAY_TAG, purpose, gatewayId, nodeId, nonce, body);
}

/** CHALLENGE proof body: u64be(expires_at_ms) ‖ lp(client_nonce). */
export function challengeProofBody(expiresAtMs: number, clientNonce: Uint8Array): Uint8Array {
  const at = new Uint8Array(8);
  new DataView(at.buffer).setBigUint64(0, BigInt(expiresAtMs));
  return concat([at, lp(clientNonce)]);
}

/** GATEWAY_INFO proof body: lp(utf8(name)) ‖ lp(utf8(version)) ‖ u32be(protocol_version). */
export function gatewayInfoProofBody(name: string, version: string, protocolVersion: number): Uint8Array {
  return concat([lp(enc.encode(name)), lp(enc.encode(version)), u32(protocolVersion)]);
}

/** The node id of a public key: lowercase hex SHA-256 of the raw 32 bytes. */
export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  return Array.from(sha256(publicKey), (b) => b.toString(16).padStart(2, "0")).join("");
}

const INVITE_TAG = new TextEncoder().encode("pairgate-invite-proof\u0000");
const INVITE_KEY_TAG = new TextEncoder().encode("pairgate-invite-key\u0000");
/** The one purpose byte of an invite proof (docs/protocol.md §3b). */
export const INVITE_PROOF_PURPOSE = 0x41;

/** The Ed25519 seed of an invite key: SHA-256("pairgate-invite-key\0" ‖ secret), secret = the raw 32 bytes. */
export function inviteKeySeed(secret: Uint8Array): Uint8Array {
  return sha256(concat([INVITE_KEY_TAG, secret]));
}

/**
 * The bytes the invite key signs: "pairgate-invite-proof\0" ‖ u16be(1) ‖ u8(0x41) ‖ lp(gateway_id)
 * ‖ lp(node_id) ‖ lp(nonce) ‖ lp(lp(utf8(invite_id)) ‖ pair_request_digest).
 */
export function inviteProofPayload(gatewayId: string, nodeId: string, nonce: Uint8Array, inviteId: string, pairRequestDigest: Uint8Array): Uint8Array {
  return tagged(INVITE_TAG, INVITE_PROOF_PURPOSE, gatewayId, nodeId, nonce, concat([lp(enc.encode(inviteId)), pairRequestDigest]));
}
