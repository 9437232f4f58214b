/**
 * Prints the signed-payload test vectors of docs/protocol.md (run: node_modules/.bin/tsx
 * scripts/protocol-vectors.ts). test/unit/domain/signed-payload.test.ts checks the document against
 * both builders, so regenerate and paste if the format ever changes (it must not, within version 1).
 */
import nacl from "tweetnacl";
import { formatInviteUri } from "../clients/ts/invite-uri";
import {
  challengeProofBody,
  GatewayProofPurpose,
  gatewayInfoProofBody,
  gatewayProofPayload,
  nodeIdFromPublicKey,
  NodeSignPurpose,
  nodeSignedPayload,
  inviteKeySeed,
  inviteProofPayload,
  pairInviteDigest,
  pairRequestDigest,
  tokenDigest,
} from "../clients/ts/signed-payload";

/** The fixed inputs of the vectors. */
export const VECTOR_INPUTS = {
  seed: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
  gatewayId: "0123456789abcdef".repeat(4),
  nonce: Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i)),
  fields: {
    displayName: "Pixel 8",
    platform: "android",
    version: "1.2.3",
    deviceFamily: "phone",
    modelIdentifier: "Pixel8,1",
    caps: ["camera", "location"],
  },
  nodeToken: "pgn_" + Buffer.alloc(32, 0x11).toString("base64url"),
  sessionToken: "pgs_" + Buffer.alloc(32, 0x22).toString("base64url"),
  /** Gateway proofs (§7): the gateway's seed, a client nonce, an expiry and the GetGatewayInfo fields. */
  gatewaySeed: Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i)),
  clientNonce: Buffer.from(Array.from({ length: 32 }, (_, i) => 0xc0 + i)),
  expiresAtMs: 1_767_225_600_000,
  gatewayName: "pairgate",
  gatewayVersion: "0.1.0",
  protocolVersion: 1,
  /** Invites (§3b): the invite id, the setup secret, the URI's address and TLS pin. */
  inviteId: "0011223344556677",
  inviteSecret: Buffer.from(Array.from({ length: 32 }, (_, i) => 0x40 + i)),
  inviteAddress: "192.168.1.10:7421",
  inviteTlsPin: Buffer.alloc(32, 0xee),
};

/** Computes the invite vectors (docs/protocol.md §3b) with the client builders and tweetnacl. */
export function computeInviteVectors(): Record<string, string> {
  const v = VECTOR_INPUTS;
  const keys = nacl.sign.keyPair.fromSeed(v.seed);
  const nodeId = nodeIdFromPublicKey(keys.publicKey);
  const seed = inviteKeySeed(v.inviteSecret);
  const inviteKey = nacl.sign.keyPair.fromSeed(seed);
  const fields = { ...v.fields, publicKey: keys.publicKey };
  const proofMessage = inviteProofPayload(v.gatewayId, nodeId, v.nonce, v.inviteId, pairRequestDigest(fields));
  const proof = nacl.sign.detached(proofMessage, inviteKey.secretKey);
  const body = pairInviteDigest(fields, v.inviteId, proof);
  const message = nodeSignedPayload(NodeSignPurpose.pairInvite, v.gatewayId, nodeId, v.nonce, body);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
  return {
    "invite-vector": "invite",
    uri: formatInviteUri({
      gatewayId: v.gatewayId,
      addresses: [v.inviteAddress],
      tlsPin: `sha256/${v.inviteTlsPin.toString("base64")}`,
      inviteId: v.inviteId,
      secret: v.inviteSecret,
      name: v.fields.displayName,
    }),
    "invite key seed": hex(seed),
    "invite public key": hex(inviteKey.publicKey),
    "proof message": hex(proofMessage),
    "invite_proof": hex(proof),
    purpose: String(NodeSignPurpose.pairInvite),
    body: hex(body),
    message: hex(message),
    signature: hex(nacl.sign.detached(message, keys.secretKey)),
  };
}

/** Computes the gateway proof vectors (docs/protocol.md §7) with the client builder and tweetnacl. */
export function computeGatewayVectors(): {
  publicKey: string;
  gatewayId: string;
  vectors: Array<{ name: string; purpose: number; body: string; message: string; signature: string }>;
} {
  const v = VECTOR_INPUTS;
  const gateway = nacl.sign.keyPair.fromSeed(v.gatewaySeed);
  const gatewayId = nodeIdFromPublicKey(gateway.publicKey); // same hash rule as node ids
  const nodeId = nodeIdFromPublicKey(nacl.sign.keyPair.fromSeed(v.seed).publicKey);
  const cases: Array<[string, number, string, Uint8Array, Uint8Array]> = [
    ["challenge-proof", GatewayProofPurpose.challenge, nodeId, v.nonce, challengeProofBody(v.expiresAtMs, v.clientNonce)],
    ["gateway-info-proof", GatewayProofPurpose.gatewayInfo, "", v.clientNonce, gatewayInfoProofBody(v.gatewayName, v.gatewayVersion, v.protocolVersion)],
  ];
  const vectors = cases.map(([name, purpose, node, nonce, body]) => {
    const message = gatewayProofPayload(purpose as 0x81, gatewayId, node, nonce, body);
    return {
      name,
      purpose,
      body: Buffer.from(body).toString("hex"),
      message: Buffer.from(message).toString("hex"),
      signature: Buffer.from(nacl.sign.detached(message, gateway.secretKey)).toString("hex"),
    };
  });
  return { publicKey: Buffer.from(gateway.publicKey).toString("hex"), gatewayId, vectors };
}

/** Computes every vector with the client builder and tweetnacl. */
export function computeVectors(): Array<{ name: string; purpose: number; body: string; message: string; signature: string }> {
  const v = VECTOR_INPUTS;
  const keys = nacl.sign.keyPair.fromSeed(v.seed);
  const nodeId = nodeIdFromPublicKey(keys.publicKey);
  const bodies: Array<[string, number, Uint8Array]> = [
    ["pair-request", NodeSignPurpose.pairRequest, pairRequestDigest({ ...v.fields, publicKey: keys.publicKey })],
    ["claim", NodeSignPurpose.claim, new Uint8Array()],
    ["connect", NodeSignPurpose.connect, tokenDigest(v.nodeToken)],
    ["rotate", NodeSignPurpose.rotate, tokenDigest(v.sessionToken)],
  ];
  return bodies.map(([name, purpose, body]) => {
    const message = nodeSignedPayload(purpose as 1, v.gatewayId, nodeId, v.nonce, body);
    return {
      name,
      purpose,
      body: Buffer.from(body).toString("hex"),
      message: Buffer.from(message).toString("hex"),
      signature: Buffer.from(nacl.sign.detached(message, keys.secretKey)).toString("hex"),
    };
  });
}

if (require.main === module) {
  const keys = nacl.sign.keyPair.fromSeed(VECTOR_INPUTS.seed);
  console.log(`public_key: ${Buffer.from(keys.publicKey).toString("hex")}`);
  console.log(`node_id: ${nodeIdFromPublicKey(keys.publicKey)}`);
  for (const v of computeVectors()) {
    console.log(`\n#### ${v.name}\n\n\`\`\`text\nvector: ${v.name}\npurpose: ${v.purpose}\nbody: ${v.body}\nmessage: ${v.message}\nsignature: ${v.signature}\n\`\`\``);
  }
  console.log("\n```text\n" + Object.entries(computeInviteVectors()).map(([k, x]) => `${k}: ${x}`).join("\n") + "\n```");
  const g = computeGatewayVectors();
  console.log(`\ngateway public_key: ${g.publicKey}\ngateway_id: ${g.gatewayId}`);
  for (const v of g.vectors) {
    console.log(`\n#### ${v.name}\n\n\`\`\`text\ngateway-vector: ${v.name}\npurpose: ${v.purpose}\nbody: ${v.body}\nmessage: ${v.message}\nsignature: ${v.signature}\n\`\`\``);
  }
}
