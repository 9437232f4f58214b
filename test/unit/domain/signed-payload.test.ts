import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import nacl from "tweetnacl";
import {
  nodeIdFromPublicKey,
  NodeSignPurpose,
  nodeSignedPayload,
  pairRequestDigest,
  tokenDigest,
} from "../../../clients/ts/signed-payload";
import { nodeIdOf, publicKeyObject, verifyEd25519 } from "../../../src/domain/ed25519-key";
import { buildSignedPayload, digestBody, pairRequestBody, SignPurpose } from "../../../src/domain/signed-payload";
import { VECTOR_INPUTS } from "../../../scripts/protocol-vectors";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Parses the ```text vector blocks of docs/protocol.md. */
function documentedVectors(): Array<Record<string, string>> {
  const doc = readFileSync(join(__dirname, "..", "..", "..", "docs", "protocol.md"), "utf8");
  const blocks = [...doc.matchAll(/```text\n(vector: [\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.map((b) =>
    Object.fromEntries(
      b
        .trim()
        .split("\n")
        .map((line) => {
          const i = line.indexOf(":");
          return [line.slice(0, i), line.slice(i + 1).trim()];
        }),
    ),
  );
}

describe("signed payload", () => {
  it("is built byte-identically by the daemon (node:crypto) and the node client (@noble/hashes)", () => {
    for (let i = 0; i < 20; i++) {
      const keys = nacl.sign.keyPair();
      const fields = {
        publicKey: keys.publicKey,
        displayName: `Phone ${i} ✓ 📱`,
        platform: i % 2 ? "ios" : "android",
        version: randomBytes(3).toString("hex"),
        deviceFamily: "",
        modelIdentifier: "M" + "x".repeat(i),
        caps: Array.from({ length: i % 4 }, (_, j) => `cap${j}`),
      };
      expect(Buffer.from(pairRequestDigest(fields)).equals(pairRequestBody(fields))).to.equal(true);
      const token = "pgn_" + randomBytes(32).toString("base64url");
      expect(Buffer.from(tokenDigest(token)).equals(digestBody(token))).to.equal(true);
      expect(nodeIdFromPublicKey(keys.publicKey)).to.equal(nodeIdOf(keys.publicKey));
      for (const purpose of [1, 2, 3, 4] as const) {
        const args = { gatewayId: randomBytes(32).toString("hex"), nodeId: nodeIdOf(keys.publicKey), nonce: randomBytes(32), body: randomBytes(i) };
        const server = buildSignedPayload({ purpose, ...args });
        const client = nodeSignedPayload(purpose, args.gatewayId, args.nodeId, args.nonce, args.body);
        expect(Buffer.from(client).toString("hex")).to.equal(server.toString("hex"));
      }
    }
  });

  it("uses the purpose byte values of the protocol on both sides", () => {
    expect(SignPurpose).to.deep.equal(NodeSignPurpose);
  });

  it("matches every test vector in docs/protocol.md with both builders, tweetnacl and node:crypto", () => {
    const vectors = documentedVectors();
    expect(vectors.map((v) => v.vector)).to.deep.equal(["pair-request", "claim", "connect", "rotate"]);
    const v = VECTOR_INPUTS;
    const keys = nacl.sign.keyPair.fromSeed(v.seed);
    const nodeId = nodeIdOf(keys.publicKey);
    const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, v.seed]), format: "der", type: "pkcs8" });
    const publicKey = publicKeyObject(keys.publicKey);
    const bodies: Record<string, Buffer> = {
      "pair-request": pairRequestBody({ ...v.fields, publicKey: keys.publicKey }),
      claim: Buffer.alloc(0),
      connect: digestBody(v.nodeToken),
      rotate: digestBody(v.sessionToken),
    };
    for (const doc of vectors) {
      const name = doc.vector!;
      const purpose = Number(doc.purpose) as 1 | 2 | 3 | 4;
      const body = bodies[name]!;
      expect(body.toString("hex"), `${name} body`).to.equal(doc.body);
      const server = buildSignedPayload({ purpose, gatewayId: v.gatewayId, nodeId, nonce: v.nonce, body });
      const client = nodeSignedPayload(purpose, v.gatewayId, nodeId, v.nonce, body);
      expect(server.toString("hex"), `${name} message`).to.equal(doc.message);
      expect(Buffer.from(client).toString("hex"), `${name} client message`).to.equal(doc.message);
      // node:crypto and tweetnacl sign identically and verify each other.
      const byNode = sign(null, server, privateKey);
      const byNacl = Buffer.from(nacl.sign.detached(client, keys.secretKey));
      expect(byNode.toString("hex"), `${name} signature`).to.equal(doc.signature);
      expect(byNacl.toString("hex")).to.equal(doc.signature);
      expect(verifyEd25519(publicKey, server, byNacl)).to.equal(true);
      expect(nacl.sign.detached.verify(client, byNode, keys.publicKey)).to.equal(true);
    }
  });

  it("gives a different message for each purpose, so a signature never fits another purpose", () => {
    const keys = nacl.sign.keyPair();
    const key = publicKeyObject(keys.publicKey);
    const base = { gatewayId: "a".repeat(64), nodeId: nodeIdOf(keys.publicKey), nonce: randomBytes(32), body: randomBytes(32) };
    const sig = nacl.sign.detached(buildSignedPayload({ purpose: 3, ...base }), keys.secretKey);
    expect(verifyEd25519(key, buildSignedPayload({ purpose: 3, ...base }), sig)).to.equal(true);
    for (const purpose of [1, 2, 4] as const) expect(verifyEd25519(key, buildSignedPayload({ purpose, ...base }), sig)).to.equal(false);
    expect(verifyEd25519(key, buildSignedPayload({ purpose: 3, ...base, gatewayId: "b".repeat(64) }), sig)).to.equal(false);
  });
});
