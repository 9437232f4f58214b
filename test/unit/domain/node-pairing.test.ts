import { expect } from "chai";
import nacl from "tweetnacl";
import {
  NodeSignPurpose,
  nodeIdFromPublicKey,
  nodeSignedPayload,
  pairRequestDigest,
  tokenDigest,
} from "../../../clients/ts/signed-payload";
import { FailedPreconditionError, NotFoundError, UnauthenticatedError } from "../../../src/domain/errors";
import { gatewayIdentityOf, newGatewayKey } from "../../../src/domain/gateway-identity";
import { silentLogger } from "../../../src/domain/logger";
import { type NodeEvent, NodePairing } from "../../../src/domain/node-pairing";
import { put } from "../../../src/domain/store";
import { applyOps } from "../../../src/domain/shared-store";
import { expectRejection } from "../../helpers/expect-error";
import { FakeClock } from "../../helpers/fake-clock";
import { memorySharedStore } from "../../helpers/memory-store";
import { RecordingStore } from "../../helpers/recording-store";

const META = { displayName: "Pixel 8", platform: "android", version: "1", deviceFamily: "phone", modelIdentifier: "P8", caps: [] };

describe("NodePairing engine", () => {
  let clock: FakeClock;
  let store: RecordingStore;
  let nodes: NodePairing;
  let events: NodeEvent[];
  const identity = gatewayIdentityOf(newGatewayKey(0));

  beforeEach(async () => {
    clock = new FakeClock();
    store = new RecordingStore(await memorySharedStore());
    nodes = new NodePairing({ store, clock, logger: silentLogger, identity, gatewayName: "gw", version: "0.1.0" });
    events = [];
    nodes.events.subscribe((e) => events.push(e));
  });

  function node() {
    const keys = nacl.sign.keyPair();
    const nodeId = nodeIdFromPublicKey(keys.publicKey);
    const signed = async (purpose: 1 | 2 | 3 | 4, body: Uint8Array) => {
      const { nonce } = await nodes.createChallenge(nodeId, "10.0.0.5");
      return { nonce, signature: nacl.sign.detached(nodeSignedPayload(purpose, identity.gatewayId, nodeId, nonce, body), keys.secretKey) };
    };
    return {
      nodeId,
      request: async (meta = META) =>
        nodes.requestPairing(
          { ...meta, publicKey: keys.publicKey, ...(await signed(NodeSignPurpose.pairRequest, pairRequestDigest({ ...meta, publicKey: keys.publicKey }))) },
          { remoteIp: "10.0.0.5", loopback: false },
        ),
      claim: async () => {
        const s = await signed(NodeSignPurpose.claim, new Uint8Array());
        return nodes.claimToken(nodeId, s.nonce, s.signature);
      },
      auth: async (token: string) => {
        const s = await signed(NodeSignPurpose.connect, tokenDigest(token));
        return nodes.authenticate(nodeId, s.nonce, s.signature, token);
      },
      rotate: async (session: string) => {
        const s = await signed(NodeSignPurpose.rotate, tokenDigest(session));
        return nodes.rotateToken(session, s.nonce, s.signature);
      },
    };
  }

  function lastWrite() {
    const w = store.transactions[store.transactions.length - 1]!;
    return { sync: w.durable, ops: w.ops.map((o) => `${o.type}:${o.collection}`).sort() };
  }

  it("approves, claims, rotates and revokes each in one synced write with its audit record, storing only the token's hash", async () => {
    const n = node();
    const ticket = await n.request();
    store.transactions.length = 0;
    await nodes.approve(ticket.requestId);
    expect(store.transactions).to.have.length(1);
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["del:nodeRequestByNode", "del:nodeRequestExpiry", "del:nodeRequests", "put:audit", "put:nodes"] });
    const { token } = await n.claim();
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["put:audit", "put:nodes"] });
    const stored = JSON.stringify(await store.get("nodes", n.nodeId));
    expect(stored).to.not.contain(token).and.not.contain(token.slice(4));
    const before = store.transactions.length;
    await n.auth(token);
    expect(store.transactions.length, "the first use of a token is one write").to.equal(before + 1);
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["put:nodes"] });
    const { sessionToken } = await n.auth(token);
    await nodes.heartbeat(sessionToken);
    expect(store.transactions.length, "later authentications and heartbeats do not write").to.equal(before + 1);
    await n.rotate(sessionToken);
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["put:audit", "put:nodes"] });
    await nodes.revoke(n.nodeId);
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["del:nodes", "put:audit"] });
    await expectRejection(nodes.heartbeat(sessionToken), UnauthenticatedError);
  });

  it("reads a node record written before token delivery tracking as a used token with no previous token", async () => {
    const n = node();
    await nodes.approve((await n.request()).requestId);
    const { token } = await n.claim();
    const { tokenUsedAtMs, previousTokenHash, previousTokenExpiresAtMs, ...legacy } = (await store.get("nodes", n.nodeId))!;
    expect([tokenUsedAtMs, previousTokenHash, previousTokenExpiresAtMs]).to.deep.equal([0, "", 0]);
    await store.transact("nodes", async (tx) => applyOps(tx, [put("nodes", n.nodeId, legacy)]), { durable: true });
    const before = store.transactions.length;
    const { sessionToken } = await n.auth(token);
    expect(store.transactions.length, "no first-use write for a legacy token").to.equal(before);
    await expectRejection(n.claim(), UnauthenticatedError);
    await n.rotate(sessionToken);
    await n.auth(token);
  });

  it("rejects in one synced write and then refuses to approve the same request", async () => {
    const ticket = await node().request();
    await nodes.reject(ticket.requestId);
    expect(lastWrite()).to.deep.equal({ sync: true, ops: ["del:nodeRequestByNode", "del:nodeRequestExpiry", "del:nodeRequests", "put:audit"] });
    await expectRejection(nodes.approve(ticket.requestId), FailedPreconditionError);
    await expectRejection(nodes.reject("f".repeat(32)), NotFoundError);
  });

  it("expires a request exactly at its TTL and emits one expired event", async () => {
    const ticket = await node().request();
    clock.advance(5 * 60_000 - 1);
    expect(await nodes.sweepExpired()).to.equal(0);
    clock.advance(1);
    expect(await nodes.sweepExpired()).to.equal(1);
    expect(await nodes.sweepExpired()).to.equal(0);
    expect(events.map((e) => [e.type, e.requestId])).to.deep.equal([
      ["requested", ticket.requestId],
      ["expired", ticket.requestId],
    ]);
    await expectRejection(nodes.approve(ticket.requestId), NotFoundError);
  });

  it("keeps events free of secrets", async () => {
    const n = node();
    await nodes.approve((await n.request()).requestId);
    const { token } = await n.claim();
    const text = JSON.stringify(events);
    expect(text).to.not.contain(token);
    expect(Object.keys(events[0]!).sort()).to.deep.equal(["approvedVia", "atMs", "displayName", "inviteId", "isRepair", "nodeId", "platform", "remoteIp", "requestId", "type"]);
  });
});
