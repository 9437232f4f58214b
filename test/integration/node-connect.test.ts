import { type ClientDuplexStream, credentials, Server, type ServerDuplexStream, ServerCredentials, status } from "@grpc/grpc-js";
import { expect } from "chai";
import nacl from "tweetnacl";
import {
  FailedPreconditionError,
  GatewayIdentityError,
  NodeGatewayClient,
  NodeSignPurpose,
  ResourceExhaustedError,
  tokenDigest,
  UnauthenticatedError,
} from "../../clients/ts";
import {
  type ConnectRequest,
  type ConnectResponse,
  NodePairingServiceClient,
  NodePairingServiceService,
  WatchNodeEventType,
} from "../../src/gen/pairgate/v1/node_pairing_service";
import { expectRejection } from "../helpers/expect-error";
import { RawPeer } from "../helpers/raw-peer";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { pairedTestNode, TestNode } from "../helpers/test-node";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A raw Connect call, for tests that break the protocol on purpose; resolves with the final status. */
function rawConnect(address: string): {
  call: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  received: ConnectResponse[];
  done: Promise<{ code: number; details: string }>;
  close: () => void;
} {
  const client = new NodePairingServiceClient(address, credentials.createInsecure());
  const call = client.connect();
  const received: ConnectResponse[] = [];
  call.on("data", (m: ConnectResponse) => received.push(m));
  const done = new Promise<{ code: number; details: string }>((resolve) => {
    call.on("error", (e: { code: number; details: string }) => resolve({ code: e.code, details: e.details }));
    call.on("end", () => resolve({ code: status.OK, details: "" }));
  });
  return { call, received, done, close: () => client.close() };
}

describe("NodePairingService.Connect: the one-stream node session (docs/protocol.md §9)", () => {
  let t: TestDaemon | undefined;
  const closers: Array<{ close(): void }> = [];
  const start = async (limits: Record<string, unknown> = {}): Promise<TestDaemon> => {
    t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", limits } } });
    return t;
  };
  afterEach(async () => {
    for (const c of closers.splice(0)) c.close();
    await t?.stop();
    t = undefined;
  });

  it("opens a session with one challenge and one proof, sends SUBSCRIBED, answers heartbeats, and its token works for RotateToken", async () => {
    const d = await start();
    const node = await pairedTestNode(d);
    closers.push(node);
    const c = await node.connect();
    closers.push(c);
    expect(c.session.sessionToken).to.match(/^pgs_/);
    expect(c.session.displayName).to.equal("Pixel 8");
    const events = c.events[Symbol.asyncIterator]();
    const first = await events.next();
    expect(first.value?.type).to.equal(WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED);
    const hb = await c.heartbeat();
    expect(hb.sessionExpiresAtMs).to.be.closeTo(c.session.expiresAtMs, 5);
    expect((await c.heartbeat()).serverTimeMs).to.be.greaterThan(0);
    await d.client.nodeAdmin.renameNode(node.nodeId, "Renamed");
    const renamed = await events.next();
    expect(renamed.value?.type).to.equal(WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED);
    expect(renamed.value?.displayName).to.equal("Renamed");
    // The Connect session is a real session: RotateToken accepts it, and the stream hears of it.
    const rotated = await node.rotate();
    expect(rotated).to.match(/^pgn_/);
    expect((await events.next()).value?.type).to.equal(WatchNodeEventType.WATCH_NODE_EVENT_TYPE_TOKEN_ROTATED);
    c.close();
    await c.ended;
  });

  it("sends REVOKED and ends with UNAUTHENTICATED within 1 s of RevokeNode; a new Connect then fails", async () => {
    const d = await start();
    const node = await pairedTestNode(d);
    closers.push(node);
    const c = await node.connect();
    const seen: WatchNodeEventType[] = [];
    const drained = (async () => {
      for await (const e of c.events) seen.push(e.type);
    })();
    const refused = expectRejection(drained, UnauthenticatedError);
    await sleep(50);
    const t0 = performance.now();
    await d.client.nodeAdmin.revokeNode(node.nodeId);
    await refused;
    expect(performance.now() - t0).to.be.lessThan(1000);
    expect(seen).to.deep.equal([WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED, WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED]);
    await expectRejection(c.ended, UnauthenticatedError);
    await expectRejection(node.connect(), UnauthenticatedError);
  });

  it("refuses a wrong token and a wrong signature with UNAUTHENTICATED, and the stream's nonce is spent", async () => {
    const d = await start();
    const node = await pairedTestNode(d);
    closers.push(node);
    await expectRejection(node.connect("pgn_" + "A".repeat(43)), UnauthenticatedError);
    const gateway = await node.client.proveGateway({ gatewayId: node.gatewayId });
    let spent: Buffer | undefined;
    const err = await expectRejection(
      node.client.connect(node.nodeId, gateway, (challenge) => {
        spent = challenge.nonce;
        return { signature: nacl.sign.detached(new Uint8Array(32), node.keys.secretKey), token: node.token };
      }),
      UnauthenticatedError,
    );
    expect(err.message).to.equal("authentication failed");
    // The nonce the gateway issued on that stream cannot be used again anywhere.
    const replay = node.client.authenticate(node.nodeId, spent!, node.sign(NodeSignPurpose.connect, spent!, tokenDigest(node.token)), node.token);
    await expectRejection(replay, UnauthenticatedError);
    // The right proof still works.
    (await node.connect()).close();
  });

  it("never sends a proof for a challenge that the pinned gateway did not sign", async () => {
    const d = await start();
    const node = await pairedTestNode(d);
    closers.push(node);
    const gateway = await node.client.proveGateway({ gatewayId: node.gatewayId });
    // An impostor that knows the real gateway's id and public key but not its private key.
    const impostor = new Server();
    impostor.addService(NodePairingServiceService, {
      connect: (call: ServerDuplexStream<ConnectRequest, ConnectResponse>) => {
        call.once("data", () =>
          call.write({
            message: {
              $case: "challenge",
              value: { nonce: Buffer.alloc(32, 7), expiresAtMs: Date.now() + 60_000, gatewaySignature: Buffer.alloc(64, 1) },
            },
          }),
        );
        call.on("data", (m: ConnectRequest) => {
          if (m.message?.$case === "proof") proofsReceived++;
        });
        call.on("error", () => undefined);
      },
    } as never);
    let proofsReceived = 0;
    const port = await new Promise<number>((res, rej) =>
      impostor.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const fake = new NodeGatewayClient({ address: `127.0.0.1:${port}` });
    let asked = false;
    await expectRejection(
      fake.connect(node.nodeId, gateway, () => {
        asked = true;
        return { signature: new Uint8Array(64), token: node.token };
      }),
      GatewayIdentityError,
    );
    await sleep(50);
    expect(asked, "the node was never asked to sign").to.equal(false);
    expect(proofsReceived).to.equal(0);
    fake.close();
    impostor.forceShutdown();
  });

  it("refuses messages out of order and a hello without a client nonce with INVALID_ARGUMENT", async () => {
    const d = await start();
    const node = await pairedTestNode(d);
    closers.push(node);
    const early = rawConnect(d.daemon.nodeAddress);
    closers.push(early);
    early.call.write({ message: { $case: "proof", value: { signature: Buffer.alloc(64), token: node.token } } });
    const s1 = await early.done;
    expect(s1.code).to.equal(status.INVALID_ARGUMENT);
    expect(s1.details).to.match(/expected hello, got proof/);
    const bare = rawConnect(d.daemon.nodeAddress);
    closers.push(bare);
    bare.call.write({ message: { $case: "hello", value: { nodeId: node.nodeId, clientNonce: Buffer.alloc(0) } } });
    const s2 = await bare.done;
    expect(s2.code).to.equal(status.INVALID_ARGUMENT);
    expect(s2.details).to.match(/client_nonce/);
    expect(bare.received).to.have.length(0);
  });

  it("ends a stream whose proof does not arrive within requestTimeoutMs, and keeps an authenticated one open past the first-RPC deadline", async () => {
    const d = await start({ requestTimeoutMs: 300, firstRpcDeadlineMs: 300 });
    const node = await pairedTestNode(d);
    closers.push(node);
    const silent = rawConnect(d.daemon.nodeAddress);
    closers.push(silent);
    silent.call.write({ message: { $case: "hello", value: { nodeId: node.nodeId, clientNonce: Buffer.alloc(32, 3) } } });
    const t0 = performance.now();
    const s = await silent.done;
    expect(s.code).to.equal(status.UNAUTHENTICATED);
    expect(silent.received.map((m) => m.message?.$case)).to.deep.equal(["challenge"]);
    expect(performance.now() - t0).to.be.lessThan(2000);

    // A fresh client (new TCP connection) that authenticates over Connect only.
    const fresh = await new TestNode(d.daemon.nodeAddress, node.keys.secretKey.slice(0, 32)).init();
    closers.push(fresh);
    fresh.token = node.token;
    const c = await fresh.connect();
    await sleep(900);
    expect((await c.heartbeat()).serverTimeMs).to.be.greaterThan(0);
    c.close();
  });

  it("caps Connect streams per address, and a node's newest authenticated stream pushes its oldest out", async () => {
    const d = await start({ connectStreamsPerPeer: 3, connectStreamsPerNode: 2 });
    const node = await pairedTestNode(d);
    closers.push(node);
    const a = await node.connect();
    const b = await node.connect();
    const c = await node.connect();
    await expectRejection(a.ended, FailedPreconditionError);
    expect((await b.heartbeat()).serverTimeMs).to.be.greaterThan(0);
    expect((await c.heartbeat()).serverTimeMs).to.be.greaterThan(0);
    // b and c hold two slots of 127.0.0.1; an unproven stream takes the third; a fourth is refused.
    const pending = rawConnect(d.daemon.nodeAddress);
    closers.push(pending);
    pending.call.write({ message: { $case: "hello", value: { nodeId: node.nodeId, clientNonce: Buffer.alloc(32, 1) } } });
    await sleep(100);
    const err = await expectRejection(node.connect(), ResourceExhaustedError);
    expect(err.retryAfterMs).to.be.greaterThan(0);
    b.close();
    await b.ended;
    await sleep(50);
    (await node.connect()).close();
    c.close();
  });

  it("answers garbage and invalid UTF-8 on a Connect stream with INVALID_ARGUMENT before any challenge", async () => {
    const d = await start();
    const peer = await RawPeer.connect(d.daemon.nodeAddress, "127.0.9.1");
    closers.push({ close: () => peer.session.destroy() });
    const garbage = await peer.start("/pairgate.v1.NodePairingService/Connect", Buffer.from([0xff, 0xff, 0xff, 0x07])).done;
    expect(garbage.code).to.equal(status.INVALID_ARGUMENT);
    expect(garbage.messages).to.have.length(0);
    // hello { node_id = "\xff(A…" }: a string field that is not UTF-8.
    const badId = Buffer.concat([Buffer.from([0x0a, 0x44, 0x0a, 0x40, 0xff, 0x28]), Buffer.alloc(62, 0x61), Buffer.from([0x12, 0x00])]);
    const utf8 = await peer.start("/pairgate.v1.NodePairingService/Connect", badId).done;
    expect(utf8.code).to.equal(status.INVALID_ARGUMENT);
    expect(utf8.messages).to.have.length(0);
  });

  it("refuses a hello for an unknown node with UNAUTHENTICATED after the proof, like Authenticate", async () => {
    const d = await start();
    const stranger = await new TestNode(d.daemon.nodeAddress).init();
    closers.push(stranger);
    const err = await expectRejection(stranger.connect("pgn_" + "B".repeat(43)), UnauthenticatedError);
    expect(err.message).to.equal("authentication failed");
  });
});
