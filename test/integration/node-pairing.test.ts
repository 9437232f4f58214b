import { createHash } from "node:crypto";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import {
  FailedPreconditionError,
  NodeGatewayClient,
  InvalidArgumentError,
  NodeEventType,
  NodePairingStatus,
  NodeSignPurpose,
  NodeTokenState,
  ResourceExhaustedError,
  UnauthenticatedError,
  WatchNodeEventType,
  type WatchNodeEventsResponse,
  tokenDigest,
} from "../../clients/ts";
import { expectRejection } from "../helpers/expect-error";
import { FakeClock } from "../helpers/fake-clock";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { pairedTestNode, TestNode } from "../helpers/test-node";

const GENERIC = "authentication failed";

async function expectUnauthenticated(promise: Promise<unknown>): Promise<void> {
  const err = await expectRejection(promise, UnauthenticatedError);
  expect(err.message).to.equal(GENERIC);
}

describe("Node pairing through the daemon", () => {
  let t: TestDaemon;
  let clock: FakeClock;
  const nodes: TestNode[] = [];
  const newNode = async (): Promise<TestNode> => {
    const n = await new TestNode(t.daemon.nodeAddress).init();
    nodes.push(n);
    return n;
  };

  beforeEach(async () => {
    clock = new FakeClock();
    t = await startTestDaemon({ clock });
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.close();
    await t.stop();
  });

  it("pairs a node end to end: request, owner approval, claim, authenticate, heartbeat", async () => {
    const node = await newNode();
    const info = await node.client.getGatewayInfo();
    expect(info.gatewayId).to.match(/^[0-9a-f]{64}$/);
    expect(info.gatewayId).to.equal(createHash("sha256").update(info.publicKey).digest("hex"));
    expect(info.version).to.equal("0.1.0");

    const req = await node.requestPairing();
    expect(req.nodeId).to.equal(node.nodeId);
    expect(req.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
    expect(req.requestId).to.match(/^[0-9a-f]{32}$/);
    expect(req.expiresAtMs).to.equal(clock.now() + 5 * 60_000);

    const pending = await t.client.nodeAdmin.listPendingNodes({});
    expect(pending.requests.map((r) => [r.requestId, r.nodeId, r.displayName, r.platform, r.remoteIp, r.isRepair])).to.deep.equal([
      [req.requestId, node.nodeId, "Pixel 8", "android", "127.0.0.1", false],
    ]);

    const statuses: NodePairingStatus[] = [];
    const stream = node.client.awaitPairing(req.requestId, node.nodeId);
    const followed = (async () => {
      for await (const u of stream) statuses.push(u.status);
    })();
    await waitFor(() => statuses.length === 1);
    const approved = await t.client.nodeAdmin.approveNode(req.requestId);
    expect(approved.node?.tokenState).to.equal(NodeTokenState.NODE_TOKEN_STATE_AWAITING_CLAIM);
    await followed;
    expect(statuses).to.deep.equal([NodePairingStatus.NODE_PAIRING_STATUS_PENDING, NodePairingStatus.NODE_PAIRING_STATUS_APPROVED]);

    const token = await node.claim();
    expect(token).to.match(/^pgn_[A-Za-z0-9_-]{43}$/);
    const session = await node.authenticate();
    expect(session).to.match(/^pgs_[A-Za-z0-9_-]{43}$/);
    const beat = await node.client.heartbeat(session);
    expect(beat.sessionExpiresAtMs).to.equal(clock.now() + 15 * 60_000);

    const listed = await t.client.nodeAdmin.listNodes({});
    expect(listed.nodes).to.have.length(1);
    expect(listed.nodes[0]?.tokenState).to.equal(NodeTokenState.NODE_TOKEN_STATE_ACTIVE);
    expect(listed.nodes[0]?.activeSessions).to.equal(1);
    expect((await t.client.nodeAdmin.listPendingNodes({})).requests).to.deep.equal([]);
  });

  it("rejects a reused nonce with UNAUTHENTICATED, even when its first use failed", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const n = await node.nonce();
    const sig = node.sign(NodeSignPurpose.connect, n, tokenDigest(node.token));
    await node.client.authenticate(node.nodeId, n, sig, node.token);
    await expectUnauthenticated(node.client.authenticate(node.nodeId, n, sig, node.token));

    const n2 = await node.nonce();
    await expectUnauthenticated(node.client.authenticate(node.nodeId, n2, sig, node.token)); // wrong signature burns it
    const good = node.sign(NodeSignPurpose.connect, n2, tokenDigest(node.token));
    await expectUnauthenticated(node.client.authenticate(node.nodeId, n2, good, node.token));
  });

  it("rejects a nonce that was issued to another node", async () => {
    const a = await pairedTestNode(t);
    const b = await newNode();
    nodes.push(a);
    const foreign = await b.nonce();
    await expectUnauthenticated(
      a.client.authenticate(a.nodeId, foreign, a.sign(NodeSignPurpose.connect, foreign, tokenDigest(a.token)), a.token),
    );
    // Pairing with a nonce issued for another node id fails too.
    const stolen = await a.nonce();
    await expectUnauthenticated(b.client.requestPairing(await b.pairingRequest({}, stolen)));
  });

  it("rejects a challenge answered after its 60 s lifetime", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const n = await node.nonce();
    clock.advance(60_001);
    await expectUnauthenticated(
      node.client.authenticate(node.nodeId, n, node.sign(NodeSignPurpose.connect, n, tokenDigest(node.token)), node.token),
    );
  });

  it("rejects a signature made for one purpose when presented for another", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const n = await node.nonce();
    // Same nonce, gateway, node and body, but signed as ROTATE: useless for CONNECT.
    const asRotate = node.sign(NodeSignPurpose.rotate, n, tokenDigest(node.token));
    await expectUnauthenticated(node.client.authenticate(node.nodeId, n, asRotate, node.token));
    const n2 = await node.nonce();
    const asConnect = node.sign(NodeSignPurpose.connect, n2, new Uint8Array());
    await expectUnauthenticated(node.client.claimToken(node.nodeId, n2, asConnect));
  });

  it("rejects node A's token presented with node B's key", async () => {
    const a = await pairedTestNode(t);
    const b = await pairedTestNode(t);
    nodes.push(a, b);
    const n = await b.nonce();
    await expectUnauthenticated(b.client.authenticate(b.nodeId, n, b.sign(NodeSignPurpose.connect, n, tokenDigest(a.token)), a.token));
    // And B's signature cannot stand in for A's.
    const n2 = await a.nonce();
    await expectUnauthenticated(
      a.client.authenticate(a.nodeId, n2, b.sign(NodeSignPurpose.connect, n2, tokenDigest(a.token), a.nodeId), a.token),
    );
  });

  it("refuses a second token claim", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    await expectUnauthenticated(node.claim());
  });

  it("refuses a claim before approval", async () => {
    const node = await newNode();
    await node.requestPairing();
    await expectUnauthenticated(node.claim());
  });

  it("rotates the token: the old token works until the new one is first used, then only the new one does", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const old = node.token;
    const fresh = await node.rotate();
    expect(fresh).to.not.equal(old);
    await node.authenticate(old);
    await node.authenticate(fresh);
    await expectUnauthenticated(node.authenticate(old));
    await node.authenticate(fresh);
  });

  it("starts WatchNode with SUBSCRIBED, then ends it with UNAUTHENTICATED within 1 s of a revocation, and Authenticate then fails", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const events: WatchNodeEventType[] = [];
    const stream = node.client.watchNode(node.sessionToken);
    let endedAt = 0;
    const watched = (async () => {
      try {
        for await (const e of stream) events.push(e.type);
        return undefined;
      } catch (err) {
        endedAt = Date.now();
        return err;
      }
    })();
    await waitFor(() => events.length === 1);
    await t.client.nodeAdmin.renameNode(node.nodeId, "Work phone");
    await waitFor(() => events.length === 2);
    await t.client.nodeAdmin.revokeNode(node.nodeId);
    const revokedAt = Date.now();
    const err = await watched;
    expect(err).to.be.instanceOf(UnauthenticatedError);
    expect(endedAt - revokedAt).to.be.lessThan(1000);
    expect(events).to.deep.equal([
      WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED,
      WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED,
      WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED,
    ]);
    await expectUnauthenticated(node.authenticate());
    await expectUnauthenticated(node.client.heartbeat(node.sessionToken));
    expect((await t.client.nodeAdmin.listNodes({})).nodes).to.deep.equal([]);
  });

  it("lets exactly one of two concurrent approvals of one request win", async () => {
    const node = await newNode();
    const req = await node.requestPairing();
    const results = await Promise.allSettled([
      t.client.nodeAdmin.approveNode(req.requestId),
      t.client.nodeAdmin.approveNode(req.requestId),
      t.client.nodeAdmin.approveNode(req.requestId),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
    for (const r of results.filter((r) => r.status === "rejected")) {
      expect((r as PromiseRejectedResult).reason).to.be.instanceOf(FailedPreconditionError);
    }
    expect((await t.client.nodeAdmin.listNodes({})).nodes).to.have.length(1);
  });

  it("refuses the 33rd pending request with RESOURCE_EXHAUSTED when one address may hold them all", async () => {
    await t.stop();
    t = await startTestDaemon({ clock, config: { nodes: { limits: { pendingPerPeer: 32, rpcBurst: 200 } } } });
    for (let i = 0; i < 32; i++) await (await newNode()).requestPairing({ displayName: `node ${i}` });
    const extra = await newNode();
    await expectRejection(extra.requestPairing(), ResourceExhaustedError);
    // A node that is already pending can still refresh its request.
    await nodes[0]!.requestPairing({ displayName: "node 0 again" });
    expect((await t.client.nodeAdmin.listPendingNodes({ pageSize: 100 })).requests).to.have.length(32);
  });

  it("rejects wrong key, nonce and signature lengths and small-order keys with INVALID_ARGUMENT, consuming nothing", async () => {
    const node = await newNode();
    const good = await node.pairingRequest();
    const cases: Array<[string, Record<string, unknown>]> = [
      ["public_key", { publicKey: Buffer.alloc(31, 1) }],
      ["public_key", { publicKey: Buffer.alloc(33, 1) }],
      ["public_key", { publicKey: Buffer.alloc(32) }], // all-zero: small order
      ["public_key", { publicKey: Buffer.from("0100000000000000000000000000000000000000000000000000000000000000", "hex") }],
      ["public_key", { publicKey: Buffer.from("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "hex") }],
      ["signature", { signature: good.signature.subarray(0, 63) }],
      ["signature", { signature: Buffer.concat([good.signature, Buffer.alloc(1)]) }],
      ["nonce", { nonce: good.nonce.subarray(0, 16) }],
      ["display_name", { displayName: "bad\u202ename" }],
      ["display_name", { displayName: "   " }],
      ["invite_id", { inviteId: "XYZ" }],
      ["invite_proof", { inviteId: "0123456789abcdef", inviteProof: Buffer.alloc(10) }],
      ["invite_proof", { inviteId: "0123456789abcdef" }], // an invite request needs its proof
      ["invite_id", { inviteProof: Buffer.alloc(64) }], // a proof needs an invite id
    ];
    for (const [field, patch] of cases) {
      const err = await expectRejection(node.client.requestPairing({ ...good, ...patch }), InvalidArgumentError);
      expect(err.field, JSON.stringify(patch)).to.equal(field);
    }
    // Nothing was consumed: the original, correctly signed request still goes through.
    const ok = await node.client.requestPairing(good);
    expect(ok.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
  });

  it("validates CreateNodeInvite at the boundary, naming the field", async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ["ttl_ms", { ttlMs: 1000 }],
      ["max_uses", { maxUses: 101 }],
      ["name", { name: "x".repeat(65) }],
      ["addresses", { addresses: ["no-port"] }],
      ["addresses", { addresses: ["host:99999"] }],
      ["addresses", { addresses: Array.from({ length: 9 }, (_, i) => `10.0.0.${i}:7421`) }],
    ];
    for (const [field, patch] of cases) {
      const err = await expectRejection(t.client.nodeAdmin.createNodeInvite(patch), InvalidArgumentError);
      expect(err.field, JSON.stringify(patch)).to.match(new RegExp(`^${field}`));
    }
    expect((await t.client.nodeAdmin.listNodeInvites()).invites, "nothing was created").to.have.length(0);
    const ok = await t.client.nodeAdmin.createNodeInvite({ addresses: ["[fd00::1]:7421", "gateway.local:7421"] });
    expect(ok.addresses).to.deep.equal(["[fd00::1]:7421", "gateway.local:7421"]);
    expect(ok.uri).to.include("addr=%5Bfd00%3A%3A1%5D%3A7421&addr=gateway.local%3A7421");
    expect(ok.tlsSpkiSha256, "no TLS: no pin").to.have.length(0);
    expect(ok.uri).to.not.include("tls_pin");
  });

  it("never returns a node token, session token or token hash from list, approve or event responses", async () => {
    const seen: unknown[] = [];
    const events: WatchNodeEventsResponse[] = [];
    const stream = t.client.nodeAdmin.watchNodeEvents();
    const watched = (async () => {
      for await (const e of stream) events.push(e);
    })();
    const node = await newNode();
    await waitFor(() => true);
    const req = await node.requestPairing();
    seen.push(await t.client.nodeAdmin.listPendingNodes({}));
    seen.push(await t.client.nodeAdmin.approveNode(req.requestId));
    await node.claim();
    await node.authenticate();
    const firstToken = node.token;
    await node.rotate();
    seen.push(await t.client.nodeAdmin.listNodes({}));
    seen.push(await t.client.nodeAdmin.renameNode(node.nodeId, "Renamed"));
    seen.push(await t.client.nodeAdmin.revokeNode(node.nodeId));
    await waitFor(() => events.length >= 4);
    stream.cancel();
    await watched;
    seen.push(events);
    expect(events.map((e) => e.type)).to.deep.equal([
      NodeEventType.NODE_EVENT_TYPE_REQUESTED,
      NodeEventType.NODE_EVENT_TYPE_APPROVED,
      NodeEventType.NODE_EVENT_TYPE_RENAMED,
      NodeEventType.NODE_EVENT_TYPE_REVOKED,
    ]);
    const text = JSON.stringify(seen, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString("hex") : v));
    for (const secret of [firstToken, node.token, node.sessionToken]) {
      expect(text).to.not.contain(secret);
      expect(text).to.not.contain(secret.slice(4));
      expect(text).to.not.contain(createHash("sha256").update(secret).digest("hex"));
    }
    expect(text).to.not.match(/pg[ns]_/);
  });

  it("expires a pending request after 5 minutes and emits expired to watchers and the waiting node", async () => {
    const node = await newNode();
    const req = await node.requestPairing();
    const events: NodeEventType[] = [];
    const admin = t.client.nodeAdmin.watchNodeEvents();
    void (async () => {
      for await (const e of admin) events.push(e.type);
    })();
    const statuses: NodePairingStatus[] = [];
    const stream = node.client.awaitPairing(req.requestId, node.nodeId);
    const followed = (async () => {
      for await (const u of stream) statuses.push(u.status);
    })();
    await waitFor(() => statuses.length === 1);
    clock.advance(5 * 60_000 - 1);
    expect(await t.daemon.nodes.sweepExpired()).to.equal(0);
    clock.advance(1);
    expect(await t.daemon.nodes.sweepExpired()).to.equal(1);
    await followed;
    expect(statuses).to.deep.equal([NodePairingStatus.NODE_PAIRING_STATUS_PENDING, NodePairingStatus.NODE_PAIRING_STATUS_EXPIRED]);
    await waitFor(() => events.length === 1);
    admin.cancel();
    expect(events).to.deep.equal([NodeEventType.NODE_EVENT_TYPE_EXPIRED]);
    expect((await t.client.nodeAdmin.listPendingNodes({})).requests).to.deep.equal([]);
  });

  it("keeps one request id for a repeat request while pending, refreshing its expiry and metadata", async () => {
    const node = await newNode();
    const first = await node.requestPairing();
    clock.advance(60_000);
    const second = await node.requestPairing({ displayName: "Pixel 8 Pro", caps: ["camera"] });
    expect(second.requestId).to.equal(first.requestId);
    expect(second.expiresAtMs).to.equal(first.expiresAtMs + 60_000);
    const [pending] = (await t.client.nodeAdmin.listPendingNodes({})).requests;
    expect(pending?.displayName).to.equal("Pixel 8 Pro");
    expect(pending?.caps).to.deep.equal(["camera"]);
    expect(pending?.createdAtMs).to.equal(first.expiresAtMs - 5 * 60_000);
  });

  it("marks a request from an already paired node as a repair; approving it invalidates the old token", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    const again = await node.requestPairing();
    expect(again.isRepair).to.equal(true);
    const [pending] = (await t.client.nodeAdmin.listPendingNodes({})).requests;
    expect(pending?.isRepair).to.equal(true);
    await t.client.nodeAdmin.approveNode(again.requestId);
    await expectUnauthenticated(node.client.heartbeat(node.sessionToken));
    await expectUnauthenticated(node.authenticate());
    await node.claim();
    await node.authenticate();
  });

  it("tells a waiting node that its request was rejected", async () => {
    const node = await newNode();
    const req = await node.requestPairing();
    await t.client.nodeAdmin.rejectNode(req.requestId);
    const statuses: NodePairingStatus[] = [];
    for await (const u of node.client.awaitPairing(req.requestId, node.nodeId)) statuses.push(u.status);
    expect(statuses).to.deep.equal([NodePairingStatus.NODE_PAIRING_STATUS_REJECTED]);
    await expectRejection(t.client.nodeAdmin.approveNode(req.requestId), FailedPreconditionError);
  });

  it("resolves node id prefixes server-side", async () => {
    const a = await pairedTestNode(t);
    nodes.push(a);
    const res = await t.client.nodeAdmin.listNodes({ nodeIdPrefix: a.nodeId.slice(0, 6) });
    expect(res.nodes.map((n) => n.nodeId)).to.deep.equal([a.nodeId]);
    await expectRejection(t.client.nodeAdmin.listNodes({ nodeIdPrefix: "XYZ" }), InvalidArgumentError);
  });

  it("rejects heartbeats without a valid bearer session", async () => {
    const node = await pairedTestNode(t);
    nodes.push(node);
    await expectUnauthenticated(node.client.heartbeat("pgs_" + "A".repeat(43)));
    await expectUnauthenticated(node.client.heartbeat("not a token"));
    clock.advance(15 * 60_000);
    await expectUnauthenticated(node.client.heartbeat(node.sessionToken));
  });
});

describe("Node pairing configuration", () => {
  it("does not auto-approve loopback nodes unless nodes.autoApproveLoopback is set", async () => {
    const off = await startTestDaemon();
    const on = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", autoApproveLoopback: true } } });
    try {
      const a = await new TestNode(off.daemon.nodeAddress).init();
      expect((await a.requestPairing()).status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
      a.close();
      const b = await new TestNode(on.daemon.nodeAddress).init();
      const req = await b.requestPairing();
      expect(req.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_APPROVED);
      await b.claim();
      await b.authenticate();
      const [node] = (await on.client.nodeAdmin.listNodes({})).nodes;
      expect(node?.approvedVia).to.equal("auto-loopback");
      b.close();
    } finally {
      await off.stop();
      await on.stop();
    }
  });

  it("refuses to listen for nodes on a non-loopback address without TLS, naming the config keys", async () => {
    const err = await expectRejection(startTestDaemon({ config: { nodes: { listen: "0.0.0.0:0" } } }), Error);
    expect(err.message).to.contain("nodes.listen").and.to.contain("nodes.tls").and.to.contain("nodes.insecure");
    const insecure = await startTestDaemon({ config: { nodes: { listen: "0.0.0.0:0", insecure: true } } });
    await insecure.stop();
  });

  it("serves TLS with an auto-created self-signed certificate that a node can pin", async () => {
    const t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", tls: "auto" } } });
    try {
      const ca = readFileSync(join(t.home, "node-tls", "cert.pem"));
      expect(statSync(join(t.home, "node-tls", "key.pem")).mode & 0o777).to.equal(0o600);
      const client = new NodeGatewayClient({ address: t.daemon.nodeAddress, tlsCa: ca });
      expect((await client.getGatewayInfo()).gatewayId).to.match(/^[0-9a-f]{64}$/);
      client.close();
      const plain = new NodeGatewayClient({ address: t.daemon.nodeAddress, deadlineMs: 2000 });
      await expectRejection(plain.getGatewayInfo(), Error);
      plain.close();
    } finally {
      await t.stop();
    }
  });

  it("keeps the gateway id across restarts", async () => {
    const first = await startTestDaemon();
    const home = first.home;
    const id = (await new TestNode(first.daemon.nodeAddress).init()).gatewayId;
    first.client.close();
    await first.daemon.stop();
    const second = await startTestDaemon({ home });
    try {
      const node = await new TestNode(second.daemon.nodeAddress).init();
      expect(node.gatewayId).to.equal(id);
      node.close();
    } finally {
      await second.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

/** Polls `cond` every 5 ms for up to 2 s. */
async function waitFor(cond: () => boolean): Promise<void> {
  const until = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met within 2 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}
