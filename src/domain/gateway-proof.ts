import { InvalidArgumentError } from "./errors";
import type { GatewayIdentity } from "./gateway-identity";
import { buildGatewayProof, challengeProofBody, GatewayProofPurpose, gatewayInfoProofBody } from "./signed-payload";

/** Client nonce bounds: absent (0 bytes, no proof) or 16..64 bytes (a proof over it is returned). */
export const MIN_CLIENT_NONCE_BYTES = 16;
export const MAX_CLIENT_NONCE_BYTES = 64;

/**
 * Checks a node-chosen `client_nonce`: empty (no proof wanted) or 16..64 bytes. Throws
 * InvalidArgumentError naming `client_nonce`.
 */
export function checkClientNonce(clientNonce: Uint8Array): void {
  const n = clientNonce.length;
  if (n !== 0 && (n < MIN_CLIENT_NONCE_BYTES || n > MAX_CLIENT_NONCE_BYTES)) {
    throw new InvalidArgumentError(
      `client_nonce must be empty or ${MIN_CLIENT_NONCE_BYTES} to ${MAX_CLIENT_NONCE_BYTES} bytes`,
      "client_nonce",
    );
  }
}

const NO_SIGNATURE = Buffer.alloc(0);

/**
 * The gateway's CHALLENGE proof over (gateway id, node id, server nonce, expiry, client nonce), or an
 * empty buffer when the node sent no client nonce (it asked for no proof). docs/protocol.md §7.
 */
export function proveChallenge(
  identity: GatewayIdentity,
  nodeId: string,
  nonce: Uint8Array,
  expiresAtMs: number,
  clientNonce: Uint8Array,
): Buffer {
  if (clientNonce.length === 0) return NO_SIGNATURE;
  const body = challengeProofBody(expiresAtMs, clientNonce);
  return identity.sign(
    buildGatewayProof({ purpose: GatewayProofPurpose.challenge, gatewayId: identity.gatewayId, nodeId, nonce, body }),
  );
}

/**
 * The gateway's GATEWAY_INFO proof over (gateway id, client nonce, name, version, protocol version),
 * or an empty buffer without a client nonce (a signature over static data would prove nothing).
 */
export function proveGatewayInfo(
  identity: GatewayIdentity,
  info: { name: string; version: string; protocolVersion: number },
  clientNonce: Uint8Array,
): Buffer {
  if (clientNonce.length === 0) return NO_SIGNATURE;
  const body = gatewayInfoProofBody(info.name, info.version, info.protocolVersion);
  return identity.sign(
    buildGatewayProof({ purpose: GatewayProofPurpose.gatewayInfo, gatewayId: identity.gatewayId, nodeId: "", nonce: clientNonce, body }),
  );
}
