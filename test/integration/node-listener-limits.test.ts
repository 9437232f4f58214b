import { randomBytes } from "node:crypto";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { status } from "@grpc/grpc-js";
import { expect } from "chai";
import { NodePairingStatus, NodeSignPurpose, ResourceExhaustedError, tokenDigest, UnauthenticatedError } from "../../clients/ts";
import { CreateChallengeRequest, NodePairingServiceService as S, WatchNodeEventType } from "../../src/gen/pairgate/v1/node_pairing_service";
import { expectRejection } from "../helpers/expect-error";
import { FakeClock } from "../helpers/fake-clock";
import { PeerNode } from "../helpers/peer-node";
import { RawPeer } from "../helpers/raw-peer";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { pairedTestNode, TestNode } from "../helpers/test-node";

/** Polls `cond` every 5 ms for up to `ms`. */
async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const randomNodeId = (): string => randomBytes(32).toString("hex");

describe("Node listener against hostile peers", () => {
  let t: TestDaemon | undefined;
  const closers: Array<{ close(): void }> = [];
  const start = async (limits: Record<string, unknown> = {}, clock?: FakeClock): Promise<TestDaemon> => {
    t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", limits } }, ...(clock === undefined ? {} : { clock }) });
    return t;
  };
  const peer = async (localAddress: string): Promise<RawPeer> => {
    const p = await RawPeer.connect(t!.daemon.nodeAddress, localAddress);
    closers.push(p);
    return p;
  };
  afterEach(async () => {
    for (const c of closers.splice(0)) c.close();
    await t?.stop();
    t = undefined;
  });

  it("keeps a paired node logging in every 100 ms while 20,000 random node ids are flooded from 20 other addresses", async function () {
    this.timeout(300_000); // 20,000 calls: seconds on a quiet machine, a minute on a loaded one
    // Worst case for fairness: each flooding address holds one challenge (so nobody is "busiest"),
    // and 20 of them fill the unknown-id pool. Only the separate pool for paired ids saves the login.
    const d = await start({ challengesPerPeer: 1, challengesUnknown: 20, rpcPerSecond: 1_000_000, rpcBurst: 1_000_000 });
    const node = await pairedTestNode(d);
    closers.push(node);
    const flooders = await Promise.all(Array.from({ length: 20 }, (_, i) => peer(`127.0.1.${i + 1}`)));
    const outcomes = new Map<number, number>();
    let flooding = true;
    const flood = Promise.all(
      flooders.flatMap((p) =>
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 125; i++) {
            const r = await p.start(S.createChallenge.path, challengeFor(randomNodeId())).done;
            outcomes.set(r.code, (outcomes.get(r.code) ?? 0) + 1);
          }
        }),
      ),
    ).finally(() => (flooding = false));
    let logins = 0;
    while (flooding) {
      await node.authenticate(); // throws if the login fails
      logins++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await flood;
    expect(outcomes.get(status.OK)).to.be.greaterThan(0);
    expect(outcomes.get(status.RESOURCE_EXHAUSTED), "the unknown pool and per-peer quotas were hit").to.be.greaterThan(10_000);
    expect((outcomes.get(status.OK) ?? 0) + (outcomes.get(status.RESOURCE_EXHAUSTED) ?? 0)).to.equal(20_000);
    expect(logins).to.be.greaterThan(3);
  });

  it("gives a real node from another address PENDING while one address floods 200 pairing requests", async () => {
    const d = await start();
    const attacker = await peer("127.0.2.1");
    const gatewayId = await PeerNode.gatewayIdVia(attacker);
    const results = [];
    for (let i = 0; i < 200; i++) results.push(await new PeerNode(attacker, gatewayId).requestPairing(`flood ${i}`));
    const pending = results.filter((r) => r.response?.status === NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
    expect(pending.length).to.be.at.most(4);
    const refused = results.filter((r) => r.code === status.RESOURCE_EXHAUSTED);
    expect(refused.length).to.equal(200 - pending.length);
    for (const r of refused) expect(Number(r.trailers["retry-after-ms"])).to.be.greaterThan(0);

    const phone = new PeerNode(await peer("127.0.2.2"), gatewayId);
    const mine = await phone.requestPairing("Real phone");
    expect(mine.response?.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
    const listed = (await d.client.nodeAdmin.listPendingNodes({ pageSize: 100 })).requests;
    expect(listed.filter((r) => r.remoteIp === "127.0.2.1").length).to.equal(pending.length);
  });

  it("makes the busiest address's oldest request yield when the queue is full, and tells its AwaitPairing EXPIRED", async () => {
    const d = await start({ pendingPerPeer: 32, rpcPerSecond: 1_000_000, rpcBurst: 1_000_000 });
    const attacker = await peer("127.0.2.3");
    const gatewayId = await PeerNode.gatewayIdVia(attacker);
    const first = new PeerNode(attacker, gatewayId);
    const firstReq = await first.requestPairing("flood 0");
    const waiting = first.awaitPairing(firstReq.response!.requestId);
    await waitFor(() => waiting.statuses().length === 1);
    let refused = 0;
    for (let i = 1; i < 200; i++) {
      const r = await new PeerNode(attacker, gatewayId).requestPairing(`flood ${i}`);
      if (r.code === status.RESOURCE_EXHAUSTED) refused++;
    }
    expect(refused).to.equal(200 - 32);

    const phone = new PeerNode(await peer("127.0.2.4"), gatewayId);
    const mine = await phone.requestPairing("Real phone");
    expect(mine.code).to.equal(status.OK);
    expect(mine.response?.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
    await waiting.done;
    expect(waiting.statuses()).to.deep.equal([NodePairingStatus.NODE_PAIRING_STATUS_PENDING, NodePairingStatus.NODE_PAIRING_STATUS_EXPIRED]);
    const listed = (await d.client.nodeAdmin.listPendingNodes({ pageSize: 100 })).requests;
    expect(listed).to.have.length(32);
    expect(listed.map((r) => r.requestId)).to.not.include(firstReq.response!.requestId);
  });

  it("does not let challenges requested for a node's id from another address evict the node's nonce", async () => {
    const d = await start();
    const victim = await pairedTestNode(d);
    closers.push(victim);
    const nonce = await victim.nonce();
    const attacker = await peer("127.0.3.1");
    for (let i = 0; i < 10; i++) expect((await new PeerNode(attacker, victim.gatewayId).challenge(victim.nodeId)).code).to.equal(status.OK);
    const sig = victim.sign(NodeSignPurpose.connect, nonce, tokenDigest(victim.token));
    const session = await victim.client.authenticate(victim.nodeId, nonce, sig, victim.token);
    expect(session.sessionToken).to.match(/^pgs_/);
  });

  it("rate-limits the unauthenticated RPCs per address on the monotonic clock, with a retry-after-ms trailer", async () => {
    const clock = new FakeClock();
    await start({ rpcPerSecond: 1, rpcBurst: 3 }, clock);
    const a = await peer("127.0.5.1");
    const b = await peer("127.0.5.2");
    const info = (p: RawPeer) => p.start(S.getGatewayInfo.path, new Uint8Array()).done;
    for (let i = 0; i < 3; i++) expect((await info(a)).code).to.equal(status.OK);
    const refused = await info(a);
    expect(refused.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(refused.trailers["retry-after-ms"]).to.equal("1000");
    expect((await info(b)).code, "another address has its own bucket").to.equal(status.OK);
    clock.stepWall(3600_000);
    expect((await info(a)).code, "a wall-clock step refills nothing").to.equal(status.RESOURCE_EXHAUSTED);
    clock.advance(1000);
    expect((await info(a)).code).to.equal(status.OK);
  });

  it("caps AwaitPairing streams per request and WatchNode streams per session", async () => {
    const d = await start();
    const p = await peer("127.0.6.1");
    const gatewayId = await PeerNode.gatewayIdVia(p);
    const node = new PeerNode(p, gatewayId);
    const req = await node.requestPairing();
    const streams = Array.from({ length: 4 }, () => node.awaitPairing(req.response!.requestId));
    await waitFor(() => streams.every((s) => s.statuses().length === 1));
    const fifth = await node.awaitPairing(req.response!.requestId).done;
    expect(fifth.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(Number(fifth.trailers["retry-after-ms"])).to.be.greaterThan(0);

    const paired = await pairedTestNode(d);
    closers.push(paired);
    const watches = [paired.client.watchNode(paired.sessionToken), paired.client.watchNode(paired.sessionToken)];
    const drained = watches.map(async (w) => {
      for await (const _ of w);
    });
    await new Promise((r) => setTimeout(r, 100));
    const third = paired.client.watchNode(paired.sessionToken);
    const err = await expectRejection(
      (async () => {
        for await (const _ of third) break;
      })(),
      ResourceExhaustedError,
    );
    expect(err.retryAfterMs).to.be.greaterThan(0);
    watches[0]!.cancel();
    await drained[0];
    // Closing a stream frees its slot.
    await new Promise((r) => setTimeout(r, 100));
    const again = paired.client.watchNode(paired.sessionToken);
    const renamed = (async () => {
      for await (const e of again) if (e.type === WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED) return e.displayName;
      return undefined;
    })();
    await new Promise((r) => setTimeout(r, 100));
    await d.client.nodeAdmin.renameNode(paired.nodeId, "Still watched");
    expect(await renamed).to.equal("Still watched");
    watches[1]!.cancel();
    await drained[1];
  });

  it("serves reflection on the node port for the node service only (no operator schema)", async () => {
    await start();
    const p = await peer("127.0.7.1");
    const ask = async (field: number, value: string): Promise<Buffer> => {
      const w = new BinaryWriter();
      w.uint32((field << 3) | 2).string(value);
      const r = await p.start("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", w.finish()).done;
      expect(r.code).to.equal(status.OK);
      return r.messages[0]!;
    };
    const listed = fieldsOf(await ask(7, ""));
    const services = fieldsOf(listed.get(6)![0]!)
      .get(1)!
      .map((s) => new TextDecoder().decode(fieldsOf(s).get(1)![0]));
    expect(services).to.include("pairgate.v1.NodePairingService");
    expect(services.filter((s) => s.startsWith("pairgate.v1."))).to.deep.equal(["pairgate.v1.NodePairingService"]);
    const admin = fieldsOf(await ask(4, "pairgate.v1.NodeAdminService"));
    expect(admin.has(4), "no file descriptor for the admin service").to.equal(false);
    expect(admin.has(7), "an error response instead").to.equal(true);
    const node = fieldsOf(fieldsOf(await ask(4, "pairgate.v1.NodePairingService")).get(4)![0]!).get(1)!;
    const names = node.map((f) => new TextDecoder().decode(fieldsOf(f).get(1)![0]));
    expect(names).to.deep.equal(["pairgate/v1/node_pairing_service.proto"]);
  });

  it("closes connections beyond the per-address cap, idle ones at the first-RPC deadline, and calls whose body never comes", async () => {
    await start({ connectionsPerPeer: 3, firstRpcDeadlineMs: 400, requestTimeoutMs: 300 });
    const held = await Promise.all([1, 2, 3].map(() => peer("127.0.8.1")));
    expect(held[0]!.session.remoteSettings.maxConcurrentStreams).to.equal(16);
    const fourth = await peer("127.0.8.1").catch((e: unknown) => e);
    expect(fourth).to.be.instanceOf(Error);
    const other = await peer("127.0.8.2"); // another address is not affected

    // One connection proves itself with a completed RPC; the idle ones are closed at the deadline.
    expect((await other.start(S.getGatewayInfo.path, new Uint8Array()).done).code).to.equal(status.OK);
    const startedAt = Date.now();
    await Promise.all(held.map((h) => h.whenClosed()));
    expect(Date.now() - startedAt).to.be.lessThan(1500);
    expect(other.closed).to.equal(false);

    // Headers and never a body: the call gets DEADLINE_EXCEEDED, then its connection is closed.
    const slow = other.start(S.createChallenge.path);
    await other.whenClosed();
    expect(slow.live.code).to.equal(status.DEADLINE_EXCEEDED);
    expect(Date.now() - startedAt).to.be.lessThan(3000);
    // With the slots freed, the address may connect again.
    await peer("127.0.8.1");
  });

  it("keeps sessions and nonces on the monotonic clock across wall-clock steps of -1 h and +1 h", async () => {
    const clock = new FakeClock();
    const d = await start({}, clock);
    const node = await pairedTestNode(d);
    closers.push(node);
    // +1 h step: the session (15 min) lives on.
    clock.stepWall(3600_000);
    const beat = await node.client.heartbeat(node.sessionToken);
    expect(beat.sessionExpiresAtMs).to.equal(clock.now() + 15 * 60_000);
    // -1 h step: a 60 s nonce still dies 60 s after it was issued.
    const n = await node.nonce();
    clock.stepWall(-3600_000);
    clock.advance(60_000);
    await expectRejection(
      node.client.authenticate(node.nodeId, n, node.sign(NodeSignPurpose.connect, n, tokenDigest(node.token)), node.token),
      UnauthenticatedError,
    );
    // The session ends 15 minutes after it began, whatever the wall clock did.
    clock.advance(15 * 60_000 - 60_000 - 1);
    await node.client.heartbeat(node.sessionToken);
    clock.advance(1);
    await expectRejection(node.client.heartbeat(node.sessionToken), UnauthenticatedError);
  });

  it("moves a persisted pending-request expiry by at most the wall-clock step", async () => {
    const clock = new FakeClock();
    const d = await start({}, clock);
    const node = await new TestNode(d.daemon.nodeAddress).init();
    closers.push(node);
    await node.requestPairing();
    clock.stepWall(-3600_000);
    clock.advance(5 * 60_000);
    expect(await d.daemon.nodes.sweepExpired(), "a -1 h step delays expiry by up to 1 h").to.equal(0);
    clock.advance(3600_000);
    expect(await d.daemon.nodes.sweepExpired(), "…and no more").to.equal(1);
    await node.requestPairing();
    clock.stepWall(3600_000);
    expect(await d.daemon.nodes.sweepExpired(), "a +1 h step expires it early, by the step").to.equal(1);
  });
});

/** An encoded CreateChallengeRequest for `nodeId`. */
function challengeFor(nodeId: string): Uint8Array {
  return CreateChallengeRequest.encode({ nodeId, clientNonce: Buffer.alloc(0) }).finish();
}

/** Length-delimited fields of a protobuf message by field number (enough for reflection replies). */
function fieldsOf(bytes: Uint8Array): Map<number, Uint8Array[]> {
  const r = new BinaryReader(bytes);
  const out = new Map<number, Uint8Array[]>();
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (wire === 2) out.set(field, [...(out.get(field) ?? []), r.bytes()]);
    else r.skip(wire);
  }
  return out;
}
