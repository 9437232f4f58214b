import { createHash } from "node:crypto";

/**
 * The signed-payload format every node signature covers (docs/protocol.md specifies it byte by byte).
 *
 *     payload = TAG ‖ u16be(VERSION) ‖ u8(purpose)
 *               ‖ lp(utf8(gateway_id)) ‖ lp(utf8(node_id)) ‖ lp(nonce) ‖ lp(body)
 *     lp(x)   = u32be(len(x)) ‖ x
 *
 * The reference node client has a byte-identical copy in clients/ts/signed-payload.ts (it may not
 * import src/domain and must not need node:crypto); a test checks both produce the same bytes.
 */

/** The domain-separation tag: ASCII "pairgate-node-auth" and a NUL byte (19 bytes). */
export const SIGNED_PAYLOAD_TAG: Buffer = Buffer.from("pairgate-node-auth\u0000", "latin1");
/** The payload format version. */
export const SIGNED_PAYLOAD_VERSION = 1;

/** What a signature is for; one byte in the payload so a signature for one purpose never fits another. */
export const SignPurpose = {
  /** RequestPairing: body = SHA-256 of the encoded request fields ({@link pairRequestBody}). */
  pairRequest: 1,
  /** ClaimToken: body is empty. */
  claim: 2,
  /** Authenticate: body = SHA-256 of the UTF-8 node token ({@link digestBody}). */
  connect: 3,
  /** RotateToken: body = SHA-256 of the UTF-8 session token ({@link digestBody}). */
  rotate: 4,
  /** RequestPairing with an invite: body = {@link pairInviteBody} (the request fields, invite id and proof). */
  pairInvite: 5,
} as const;

/** One of the {@link SignPurpose} values. */
export type SignPurposeValue = (typeof SignPurpose)[keyof typeof SignPurpose];

/** The inputs of one signed payload. */
export interface SignedPayloadInput {
  purpose: SignPurposeValue;
  /** The gateway id (64 lowercase hex characters), as text. */
  gatewayId: string;
  /** The node id (64 lowercase hex characters), as text. */
  nodeId: string;
  /** The server nonce (32 bytes). */
  nonce: Uint8Array;
  /** The purpose-specific body. */
  body: Uint8Array;
}

/** The fields of a pairing request that its signature covers, exactly as sent. */
export interface PairRequestFields {
  publicKey: Uint8Array;
  displayName: string;
  platform: string;
  version: string;
  deviceFamily: string;
  modelIdentifier: string;
  caps: readonly string[];
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function lp(bytes: Uint8Array): Buffer {
  return Buffer.concat([u32(bytes.length), bytes]);
}

function utf8(s: string): Buffer {
  return Buffer.from(s, "utf8");
}

/** Builds the exact bytes a node signs. Never throws for valid inputs (lengths are < 2^32). */
export function buildSignedPayload(input: SignedPayloadInput): Buffer {
  return tagged(SIGNED_PAYLOAD_TAG, input);
}

/** `tag ‖ u16be(VERSION) ‖ u8(purpose) ‖ lp(gateway_id) ‖ lp(node_id) ‖ lp(nonce) ‖ lp(body)`. */
function tagged(tag: Buffer, input: { purpose: number; gatewayId: string; nodeId: string; nonce: Uint8Array; body: Uint8Array }): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt16BE(SIGNED_PAYLOAD_VERSION, 0);
  head.writeUInt8(input.purpose, 2);
  return Buffer.concat([tag, head, lp(utf8(input.gatewayId)), lp(utf8(input.nodeId)), lp(input.nonce), lp(input.body)]);
}

/**
 * The PAIR_REQUEST body: SHA-256 of
 * `lp(public_key) ‖ lp(display_name) ‖ lp(platform) ‖ lp(version) ‖ lp(device_family)
 *  ‖ lp(model_identifier) ‖ u32be(count(caps)) ‖ lp(cap)…` (strings as UTF-8).
 */
export function pairRequestBody(fields: PairRequestFields): Buffer {
  return createHash("sha256").update(pairRequestPreimage(fields)).digest();
}

function pairRequestPreimage(fields: PairRequestFields): Buffer {
  const parts: Buffer[] = [
    lp(fields.publicKey),
    lp(utf8(fields.displayName)),
    lp(utf8(fields.platform)),
    lp(utf8(fields.version)),
    lp(utf8(fields.deviceFamily)),
    lp(utf8(fields.modelIdentifier)),
    u32(fields.caps.length),
    ...fields.caps.map((c) => lp(utf8(c))),
  ];
  return Buffer.concat(parts);
}

/**
 * The PAIR_INVITE body (docs/protocol.md §3b): SHA-256 of the PAIR_REQUEST preimage followed by
 * `lp(utf8(invite_id)) ‖ lp(invite_proof)`, so the node's signature covers the invite and its proof.
 */
export function pairInviteBody(fields: PairRequestFields, inviteId: string, inviteProof: Uint8Array): Buffer {
  return createHash("sha256").update(Buffer.concat([pairRequestPreimage(fields), lp(utf8(inviteId)), lp(inviteProof)])).digest();
}

/** The CONNECT and ROTATE body: SHA-256 of the UTF-8 bytes of `secret` (the node or session token). */
export function digestBody(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/**
 * The gateway proof format (docs/protocol.md §7): what the gateway signs with its own key so a node
 * that pinned `gateway_id` can tell the real gateway from an impostor. Same layout as the node payload
 * with another tag and purposes ≥ 0x81, so a gateway proof never parses as a node payload and no node
 * signature can ever be taken for a gateway proof (or the reverse).
 *
 *     proof = GATEWAY_TAG ‖ u16be(VERSION) ‖ u8(purpose)
 *             ‖ lp(utf8(gateway_id)) ‖ lp(utf8(node_id)) ‖ lp(nonce) ‖ lp(body)
 */
export const GATEWAY_PROOF_TAG: Buffer = Buffer.from("pairgate-gateway-proof\u0000", "latin1");

/** What a gateway proof is for. */
export const GatewayProofPurpose = {
  /** CreateChallenge: node_id = the node's id, nonce = the server nonce, body = {@link challengeProofBody}. */
  challenge: 0x81,
  /** GetGatewayInfo: node_id empty, nonce = the client nonce, body = {@link gatewayInfoProofBody}. */
  gatewayInfo: 0x82,
} as const;

/** One of the {@link GatewayProofPurpose} values. */
export type GatewayProofPurposeValue = (typeof GatewayProofPurpose)[keyof typeof GatewayProofPurpose];

/** Builds the exact bytes the gateway signs for a proof. */
export function buildGatewayProof(input: {
  purpose: GatewayProofPurposeValue;
  gatewayId: string;
  nodeId: string;
  nonce: Uint8Array;
  body: Uint8Array;
}): Buffer {
  return tagged(GATEWAY_PROOF_TAG, input);
}

/** CHALLENGE proof body: `u64be(expires_at_ms) ‖ lp(client_nonce)`. */
export function challengeProofBody(expiresAtMs: number, clientNonce: Uint8Array): Buffer {
  const at = Buffer.alloc(8);
  at.writeBigUInt64BE(BigInt(expiresAtMs));
  return Buffer.concat([at, lp(clientNonce)]);
}

/** GATEWAY_INFO proof body: `lp(utf8(name)) ‖ lp(utf8(version)) ‖ u32be(protocol_version)`. */
export function gatewayInfoProofBody(name: string, version: string, protocolVersion: number): Buffer {
  return Buffer.concat([lp(utf8(name)), lp(utf8(version)), u32(protocolVersion)]);
}

/**
 * The invite proof format (docs/protocol.md §3b). The setup secret never leaves the node: it derives
 * an Ed25519 key from it and signs
 *
 *     proof = INVITE_TAG ‖ u16be(VERSION) ‖ u8(0x41)
 *             ‖ lp(utf8(gateway_id)) ‖ lp(utf8(node_id)) ‖ lp(nonce) ‖ lp(lp(utf8(invite_id)) ‖ pair_request_digest)
 *
 * with it. The gateway keeps only that key's public half, so not even a copy of its database can make
 * a proof. Its own tag, so it never parses as a node payload or a gateway proof.
 */
export const INVITE_PROOF_TAG: Buffer = Buffer.from("pairgate-invite-proof\u0000", "latin1");
/** The one purpose of an invite proof. */
export const INVITE_PROOF_PURPOSE = 0x41;
/** Prefix of the invite key derivation: `seed = SHA-256("pairgate-invite-key\0" ‖ secret)`. */
export const INVITE_KEY_TAG: Buffer = Buffer.from("pairgate-invite-key\u0000", "latin1");

/** The Ed25519 seed of an invite's key: SHA-256 of {@link INVITE_KEY_TAG} and the raw 32-byte secret. */
export function inviteKeySeed(secret: Uint8Array): Buffer {
  return createHash("sha256").update(INVITE_KEY_TAG).update(secret).digest();
}

/** The exact bytes the invite key signs (see {@link INVITE_PROOF_TAG}); `pairRequestDigest` = {@link pairRequestBody}. */
export function buildInviteProof(input: { gatewayId: string; nodeId: string; nonce: Uint8Array; inviteId: string; pairRequestDigest: Uint8Array }): Buffer {
  const body = Buffer.concat([lp(utf8(input.inviteId)), input.pairRequestDigest]);
  return tagged(INVITE_PROOF_TAG, { purpose: INVITE_PROOF_PURPOSE, gatewayId: input.gatewayId, nodeId: input.nodeId, nonce: input.nonce, body });
}
