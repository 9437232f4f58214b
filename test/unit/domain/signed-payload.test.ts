import { createPrivateKey, createPublicKey, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import nacl from "tweetnacl";
import {
  challengeProofBody as clientChallengeBody,
  GatewayProofPurpose as ClientGatewayPurpose,
  gatewayInfoProofBody as clientInfoBody,
  gatewayProofPayload,
  inviteKeySeed as clientInviteKeySeed,
  nodeIdFromPublicKey,
  NodeSignPurpose,
  nodeSignedPayload,
  inviteProofPayload,
  pairInviteDigest,
  pairRequestDigest,
  tokenDigest,
} from "../../../clients/ts/signed-payload";
import { nodeIdOf, publicKeyObject, verifyEd25519 } from "../../../src/domain/ed25519-key";
import { verifyChallenge, verifyGatewayInfo } from "../../../clients/ts/gateway-proof";
import { gatewayIdentityOf } from "../../../src/domain/gateway-identity";
import { proveChallenge, proveGatewayInfo } from "../../../src/domain/gateway-proof";
import { hasInvisibleCharacters } from "../../../src/domain/node-input";
import {
  buildGatewayProof,
  buildInviteProof,
  buildSignedPayload,
  inviteKeySeed,
  pairInviteBody,
  challengeProofBody,
  digestBody,
  GatewayProofPurpose,
  gatewayInfoProofBody,
  pairRequestBody,
  SignPurpose,
} from "../../../src/domain/signed-payload";
import { computeInviteVectors, VECTOR_INPUTS } from "../../../scripts/protocol-vectors";
import { parseInviteUri } from "../../../clients/ts/invite-uri";
import { formatInviteUri as formatDaemonInviteUri } from "../../../src/domain/node-invite-uri";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Parses the ```text vector blocks of docs/protocol.md (`key` = "vector" or "gateway-vector"). */
function documentedVectors(key = "vector"): Array<Record<string, string>> {
  const doc = readFileSync(join(__dirname, "..", "..", "..", "docs", "protocol.md"), "utf8");
  const blocks = [...doc.matchAll(new RegExp("```text\\n(" + key + ": [\\s\\S]*?)```", "g"))].map((m) => m[1]!);
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
      const proof = randomBytes(64);
      expect(Buffer.from(pairInviteDigest(fields, "00112233aabbccdd", proof)).equals(pairInviteBody(fields, "00112233aabbccdd", proof))).to.equal(true);
      const digest = pairRequestBody(fields);
      const gw = randomBytes(32).toString("hex");
      const n = randomBytes(32);
      expect(Buffer.from(inviteProofPayload(gw, nodeIdOf(keys.publicKey), n, "0123456789abcdef", digest)).toString("hex")).to.equal(
        buildInviteProof({ gatewayId: gw, nodeId: nodeIdOf(keys.publicKey), nonce: n, inviteId: "0123456789abcdef", pairRequestDigest: digest }).toString("hex"),
      );
      expect(nodeIdFromPublicKey(keys.publicKey)).to.equal(nodeIdOf(keys.publicKey));
      for (const purpose of [1, 2, 3, 4, 5] as const) {
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

  it("matches the gateway proof vectors of docs/protocol.md with both builders, and both verifiers accept them", () => {
    const v = VECTOR_INPUTS;
    const docs = documentedVectors("gateway-vector");
    expect(docs.map((d) => d["gateway-vector"])).to.deep.equal(["challenge-proof", "gateway-info-proof"]);
    expect(GatewayProofPurpose).to.deep.equal(ClientGatewayPurpose);
    const identity = gatewayIdentityOf({ version: 1, privateKeyPkcs8: Buffer.concat([PKCS8_PREFIX, v.gatewaySeed]).toString("base64"), createdAtMs: 0 });
    const gateway = nacl.sign.keyPair.fromSeed(v.gatewaySeed);
    expect(identity.gatewayId).to.equal(nodeIdFromPublicKey(gateway.publicKey));
    const nodeId = nodeIdOf(nacl.sign.keyPair.fromSeed(v.seed).publicKey);
    const [challenge, info] = docs as [Record<string, string>, Record<string, string>];

    const cBody = challengeProofBody(v.expiresAtMs, v.clientNonce);
    expect(cBody.toString("hex")).to.equal(challenge.body);
    expect(Buffer.from(clientChallengeBody(v.expiresAtMs, v.clientNonce)).toString("hex")).to.equal(challenge.body);
    const cMsg = buildGatewayProof({ purpose: 0x81, gatewayId: identity.gatewayId, nodeId, nonce: v.nonce, body: cBody });
    expect(cMsg.toString("hex")).to.equal(challenge.message);
    expect(Buffer.from(gatewayProofPayload(0x81, identity.gatewayId, nodeId, v.nonce, cBody)).toString("hex")).to.equal(challenge.message);
    // The daemon's signer (node:crypto) produces the documented signature; the client verifier accepts it.
    const cSig = proveChallenge(identity, nodeId, v.nonce, v.expiresAtMs, v.clientNonce);
    expect(cSig.toString("hex")).to.equal(challenge.signature);
    verifyChallenge(identity, nodeId, { nonce: v.nonce, expiresAtMs: v.expiresAtMs, gatewaySignature: Buffer.from(challenge.signature!, "hex") }, v.clientNonce);
    expect(verifyEd25519(publicKeyObject(gateway.publicKey), cMsg, Buffer.from(challenge.signature!, "hex"))).to.equal(true);

    const iBody = gatewayInfoProofBody(v.gatewayName, v.gatewayVersion, v.protocolVersion);
    expect(iBody.toString("hex")).to.equal(info.body);
    expect(Buffer.from(clientInfoBody(v.gatewayName, v.gatewayVersion, v.protocolVersion)).toString("hex")).to.equal(info.body);
    const iMsg = buildGatewayProof({ purpose: 0x82, gatewayId: identity.gatewayId, nodeId: "", nonce: v.clientNonce, body: iBody });
    expect(iMsg.toString("hex")).to.equal(info.message);
    const iSig = proveGatewayInfo(identity, { name: v.gatewayName, version: v.gatewayVersion, protocolVersion: 1 }, v.clientNonce);
    expect(iSig.toString("hex")).to.equal(info.signature);
    const fields = { gatewayId: identity.gatewayId, publicKey: gateway.publicKey, name: v.gatewayName, version: v.gatewayVersion, protocolVersion: 1 };
    verifyGatewayInfo({ ...fields, gatewaySignature: iSig }, v.clientNonce, { gatewayId: identity.gatewayId });
    // One flipped bit anywhere fails, and a gateway proof is never a node payload.
    const bad = Buffer.from(iSig);
    bad[10]! ^= 1;
    expect(() => verifyGatewayInfo({ ...fields, gatewaySignature: bad }, v.clientNonce)).to.throw(/failed to prove/);
    expect(() => verifyGatewayInfo({ ...fields, gatewaySignature: iSig }, Buffer.alloc(32))).to.throw(/failed to prove/);
    expect(iMsg.subarray(0, 19).equals(buildSignedPayload({ purpose: 1, gatewayId: "", nodeId: "", nonce: v.nonce, body: Buffer.alloc(0) }).subarray(0, 19))).to.equal(false);
  });

  it("matches the invite vectors of docs/protocol.md §3b with the daemon's and the client's builders", () => {
    const v = VECTOR_INPUTS;
    const [doc] = documentedVectors("invite-vector");
    expect(doc, "an invite-vector block").to.not.equal(undefined);
    expect(doc).to.deep.equal(computeInviteVectors());
    const keys = nacl.sign.keyPair.fromSeed(v.seed);
    const nodeId = nodeIdOf(keys.publicKey);
    const fields = { ...v.fields, publicKey: keys.publicKey };
    // The daemon's builders (node:crypto) give the same bytes as the documented ones.
    const seed = inviteKeySeed(v.inviteSecret);
    expect(seed.toString("hex")).to.equal(doc!["invite key seed"]);
    expect(Buffer.from(clientInviteKeySeed(v.inviteSecret)).toString("hex")).to.equal(doc!["invite key seed"]);
    const inviteKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
    const invitePublic = Buffer.from(createPublicKey(inviteKey).export({ format: "jwk" }).x as string, "base64url");
    expect(invitePublic.toString("hex")).to.equal(doc!["invite public key"]);
    const proofMessage = buildInviteProof({ gatewayId: v.gatewayId, nodeId, nonce: v.nonce, inviteId: v.inviteId, pairRequestDigest: pairRequestBody(fields) });
    expect(proofMessage.toString("hex")).to.equal(doc!["proof message"]);
    const proof = sign(null, proofMessage, inviteKey);
    expect(proof.toString("hex")).to.equal(doc!.invite_proof);
    const body = pairInviteBody(fields, v.inviteId, proof);
    expect(body.toString("hex")).to.equal(doc!.body);
    const message = buildSignedPayload({ purpose: SignPurpose.pairInvite, gatewayId: v.gatewayId, nodeId, nonce: v.nonce, body });
    expect(message.toString("hex")).to.equal(doc!.message);
    expect(verifyEd25519(publicKeyObject(keys.publicKey), message, Buffer.from(doc!.signature!, "hex"))).to.equal(true);
    // The proof is no node payload: another tag, another purpose byte.
    expect(proofMessage.subarray(0, 22).toString("latin1")).to.equal("pairgate-invite-proof\u0000");
    // The URI: the daemon's formatter writes the documented text; the client parses it back.
    const uri = formatDaemonInviteUri({
      gatewayId: v.gatewayId,
      addresses: [v.inviteAddress],
      tlsSpkiSha256: v.inviteTlsPin,
      inviteId: v.inviteId,
      secret: v.inviteSecret,
      name: v.fields.displayName,
    });
    expect(uri).to.equal(doc!.uri);
    const parsed = parseInviteUri(uri);
    expect(parsed).to.deep.equal({
      gatewayId: v.gatewayId,
      addresses: [v.inviteAddress],
      tlsPin: `sha256/${v.inviteTlsPin.toString("base64")}`,
      inviteId: v.inviteId,
      secret: new Uint8Array(v.inviteSecret),
      name: "Pixel 8",
    });
  });

  it("states the TAG lengths right: 18 ASCII bytes + 0x00 for nodes, 22 + 0x00 for gateway proofs", () => {
    expect(buildSignedPayload({ purpose: 1, gatewayId: "", nodeId: "", nonce: Buffer.alloc(0), body: Buffer.alloc(0) }).indexOf(0)).to.equal(18);
    expect(buildGatewayProof({ purpose: 0x81, gatewayId: "", nodeId: "", nonce: Buffer.alloc(0), body: Buffer.alloc(0) }).indexOf(0)).to.equal(22);
  });
});

describe("node text fields", () => {
  it("allow emoji ZWJ sequences and refuse every other invisible or control character", () => {
    for (const ok of ["Pixel 8", "👩‍💻 laptop", "👨‍👩‍👧‍👦", "🏳️‍🌈 phone", "👍🏽", "Zoë's iPhone"]) expect(hasInvisibleCharacters(ok), ok).to.equal(false);
    for (const bad of ["a\u200Db", "👩\u200D", "\u200D💻", "👩\u200D\u200D💻", "x\u202Ey", "x\u2066y", "x\u200By", "x\uFEFFy", "x\u00ADy", "x\u200Cy", "tab\there", "🏴\u{E0067}\u{E0062}\u{E007F}"]) {
      expect(hasInvisibleCharacters(bad), JSON.stringify(bad)).to.equal(true);
    }
  });
});
