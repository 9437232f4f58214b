/**
 * Prints the signed-payload test vectors of docs/protocol.md (run: node_modules/.bin/tsx
 * scripts/protocol-vectors.ts). test/unit/domain/signed-payload.test.ts checks the document against
 * both builders, so regenerate and paste if the format ever changes (it must not, within version 1).
 */
import nacl from "tweetnacl";
import {
  nodeIdFromPublicKey,
  NodeSignPurpose,
  nodeSignedPayload,
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
};

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
}
