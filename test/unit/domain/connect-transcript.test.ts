import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import nacl from "tweetnacl";
import { verifyChallenge } from "../../../clients/ts/gateway-proof";
import { nodeIdFromPublicKey, NodeSignPurpose, nodeSignedPayload, tokenDigest } from "../../../clients/ts/signed-payload";
import { publicKeyObject, verifyEd25519 } from "../../../src/domain/ed25519-key";
import { buildSignedPayload, digestBody, SignPurpose } from "../../../src/domain/signed-payload";
import { ConnectRequest, ConnectResponse } from "../../../src/gen/pairgate/v1/node_pairing_service";
import { VECTOR_INPUTS as v } from "../../../scripts/protocol-vectors";

/** The `connect-transcript` block of docs/protocol.md §9, as key -> hex. */
function transcript(): Record<string, string> {
  const doc = readFileSync(join(__dirname, "..", "..", "..", "docs", "protocol.md"), "utf8");
  const block = /```text\n(connect-transcript: [\s\S]*?)```/.exec(doc)?.[1];
  expect(block, "docs/protocol.md has a connect-transcript block").to.be.a("string");
  return Object.fromEntries(block!.trim().split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
}

describe("the Connect transcript of docs/protocol.md §9", () => {
  const t = transcript();
  const node = nacl.sign.keyPair.fromSeed(v.seed);
  const gateway = nacl.sign.keyPair.fromSeed(v.gatewaySeed);
  const nodeId = nodeIdFromPublicKey(node.publicKey);
  const gatewayId = nodeIdFromPublicKey(gateway.publicKey);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

  it("encodes hello, proof and heartbeat exactly as the generated encoder does, and they decode back", () => {
    const hello = ConnectRequest.decode(Buffer.from(t.hello!, "hex"));
    expect(hello.message?.$case).to.equal("hello");
    expect(hex(ConnectRequest.encode({ message: { $case: "hello", value: { nodeId, clientNonce: v.clientNonce } } }).finish())).to.equal(t.hello);
    const proof = ConnectRequest.decode(Buffer.from(t.proof!, "hex"));
    expect(proof.message?.$case).to.equal("proof");
    const sig = Buffer.from(t.connect_signature!, "hex");
    expect(hex(ConnectRequest.encode({ message: { $case: "proof", value: { signature: sig, token: v.nodeToken } } }).finish())).to.equal(t.proof);
    expect(t.heartbeat).to.equal(hex(ConnectRequest.encode({ message: { $case: "heartbeat", value: {} } }).finish()));
  });

  it("carries a challenge whose gateway proof verifies for the vector gateway, node and client nonce", () => {
    const r = ConnectResponse.decode(Buffer.from(t.challenge!, "hex"));
    expect(r.message?.$case).to.equal("challenge");
    const challenge = (r.message as Extract<ConnectResponse["message"], { $case: "challenge" }>).value;
    expect(hex(challenge.nonce)).to.equal(hex(v.nonce));
    expect(challenge.expiresAtMs).to.equal(v.expiresAtMs);
    verifyChallenge({ gatewayId, publicKey: gateway.publicKey }, nodeId, challenge, v.clientNonce);
    const forged = Buffer.from(challenge.gatewaySignature);
    forged[0]! ^= 1;
    expect(() => verifyChallenge({ gatewayId, publicKey: gateway.publicKey }, nodeId, { ...challenge, gatewaySignature: forged }, v.clientNonce)).to.throw();
  });

  it("proves with the CONNECT payload for this gateway id, built the same by daemon and client, signed deterministically", () => {
    const clientMessage = nodeSignedPayload(NodeSignPurpose.connect, gatewayId, nodeId, v.nonce, tokenDigest(v.nodeToken));
    const daemonMessage = buildSignedPayload({ purpose: SignPurpose.connect, gatewayId, nodeId, nonce: v.nonce, body: digestBody(v.nodeToken) });
    expect(hex(clientMessage)).to.equal(t.connect_message);
    expect(hex(daemonMessage)).to.equal(t.connect_message);
    expect(hex(nacl.sign.detached(clientMessage, node.secretKey))).to.equal(t.connect_signature);
    expect(verifyEd25519(publicKeyObject(node.publicKey), daemonMessage, Buffer.from(t.connect_signature!, "hex"))).to.equal(true);
  });
});
