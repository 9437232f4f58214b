/**
 * Verification of the gateway's proofs (docs/protocol.md §7): a node that pinned `gateway_id` checks
 * that the gateway holds the matching private key before it signs anything or sends its token.
 * Ed25519 from tweetnacl, SHA-256 from @noble/hashes: no node:crypto, like a mobile app.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import nacl from "tweetnacl";
import { GatewayIdentityError } from "./errors";
import {
  challengeProofBody,
  GatewayProofPurpose,
  gatewayInfoProofBody,
  gatewayProofPayload,
} from "./signed-payload";

/** The protocol version this client speaks (the signed-payload VERSION). */
export const SUPPORTED_PROTOCOL_VERSION = 1;

/** A gateway whose identity was verified: what a node pins and checks every challenge against. */
export interface VerifiedGateway {
  /** Lowercase hex SHA-256 of `publicKey`. */
  gatewayId: string;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  name: string;
  version: string;
  protocolVersion: number;
}

/** The GetGatewayInfo fields the proof covers. */
export interface GatewayInfoFields {
  gatewayId: string;
  publicKey: Uint8Array;
  name: string;
  version: string;
  protocolVersion: number;
  gatewaySignature: Uint8Array;
}

/** A fresh 32-byte client nonce (crypto.getRandomValues, available in Node ≥ 20 and browsers). */
export function newClientNonce(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32));
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks a GetGatewayInfo response obtained with `clientNonce`: the public key hashes to the id, the id
 * equals `pinned` (when given), the protocol version is one this client speaks, and the GATEWAY_INFO
 * signature verifies. Returns the verified gateway. Throws GatewayIdentityError.
 */
export function verifyGatewayInfo(info: GatewayInfoFields, clientNonce: Uint8Array, pinned?: { gatewayId: string; publicKey?: Uint8Array }): VerifiedGateway {
  if (info.publicKey.length !== 32 || hex(sha256(info.publicKey)) !== info.gatewayId) {
    throw new GatewayIdentityError(`gateway ${info.gatewayId.slice(0, 12)} sent a public key that does not hash to its gateway_id`);
  }
  if (pinned !== undefined && pinned.gatewayId !== info.gatewayId) {
    throw new GatewayIdentityError(`gateway identity changed: pinned ${pinned.gatewayId}, the gateway now reports ${info.gatewayId}`);
  }
  if (info.protocolVersion !== SUPPORTED_PROTOCOL_VERSION) {
    throw new GatewayIdentityError(
      `gateway speaks protocol version ${info.protocolVersion}; this node speaks ${SUPPORTED_PROTOCOL_VERSION}: update the node app`,
    );
  }
  const payload = gatewayProofPayload(
    GatewayProofPurpose.gatewayInfo,
    info.gatewayId,
    "",
    clientNonce,
    gatewayInfoProofBody(info.name, info.version, info.protocolVersion),
  );
  if (info.gatewaySignature.length !== 64 || !nacl.sign.detached.verify(payload, info.gatewaySignature, info.publicKey)) {
    throw new GatewayIdentityError(`gateway ${info.gatewayId.slice(0, 12)} failed to prove its identity (bad or missing gateway_signature)`);
  }
  return {
    gatewayId: info.gatewayId,
    publicKey: info.publicKey,
    name: info.name,
    version: info.version,
    protocolVersion: info.protocolVersion,
  };
}

/**
 * Checks a CreateChallenge response obtained with `clientNonce` for `nodeId` against a verified (pinned)
 * gateway. Throws GatewayIdentityError when the CHALLENGE signature is missing or does not verify.
 */
export function verifyChallenge(
  gateway: Pick<VerifiedGateway, "gatewayId" | "publicKey">,
  nodeId: string,
  challenge: { nonce: Uint8Array; expiresAtMs: number; gatewaySignature: Uint8Array },
  clientNonce: Uint8Array,
): void {
  const payload = gatewayProofPayload(
    GatewayProofPurpose.challenge,
    gateway.gatewayId,
    nodeId,
    challenge.nonce,
    challengeProofBody(challenge.expiresAtMs, clientNonce),
  );
  if (challenge.gatewaySignature.length !== 64 || !nacl.sign.detached.verify(payload, challenge.gatewaySignature, gateway.publicKey)) {
    throw new GatewayIdentityError(`the challenge is not signed by gateway ${gateway.gatewayId.slice(0, 12)}; refusing to sign it`);
  }
}
