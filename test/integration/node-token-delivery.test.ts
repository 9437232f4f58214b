import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { NodeTokenState, UnauthenticatedError } from "../../clients/ts";
import { expectRejection } from "../helpers/expect-error";
import { FakeClock } from "../helpers/fake-clock";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { TestNode } from "../helpers/test-node";

const GRACE_MS = 10 * 60_000;

async function expectUnauthenticated(promise: Promise<unknown>): Promise<void> {
  const err = await expectRejection(promise, UnauthenticatedError);
  expect(err.message).to.equal("authentication failed");
}

/**
 * Token delivery that survives a lost reply (issue 7): a claim may be repeated until the token is
 * first used; after a rotation the previous token works until the new one is first used or 10 minutes
 * pass; the first use retires the previous token durably. Real daemon, real LevelDB, restarts on the
 * same state dir.
 */
describe("Node token delivery survives a lost reply", () => {
  let dir: { path: string; cleanup: () => void };
  let clock: FakeClock;
  let t: TestDaemon;
  const nodes: TestNode[] = [];

  const start = async (): Promise<TestDaemon> => startTestDaemon({ clock, home: dir.path });
  const restart = async (): Promise<void> => {
    for (const n of nodes.splice(0)) n.close();
    await t.stop();
    t = await start();
  };
  /** A node approved by the owner, token not claimed yet. */
  const approvedNode = async (): Promise<TestNode> => {
    const node = await new TestNode(t.daemon.nodeAddress).init();
    nodes.push(node);
    await t.client.nodeAdmin.approveNode((await node.requestPairing()).requestId);
    return node;
  };
  /** The same node (same key) talking to the current daemon, holding `token`. */
  const reconnect = async (node: TestNode, token: string): Promise<TestNode> => {
    const again = await new TestNode(t.daemon.nodeAddress, node.keys.secretKey.subarray(0, 32)).init();
    nodes.push(again);
    again.token = token;
    return again;
  };
  const tokenState = async (nodeId: string) => {
    const [n] = (await t.client.nodeAdmin.listNodes({ nodeIdPrefix: nodeId })).nodes;
    return { state: n?.tokenState, previousUntil: n?.previousTokenExpiresAtMs };
  };

  beforeEach(async () => {
    dir = tempDir();
    clock = new FakeClock();
    t = await start();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.close();
    await t.stop();
    dir.cleanup();
  });

  it("lets a node repeat ClaimToken until its token is first used, each repeat replacing the unused token", async () => {
    const node = await approvedNode();
    const lost = await node.claim();
    expect(await tokenState(node.nodeId)).to.deep.equal({ state: NodeTokenState.NODE_TOKEN_STATE_ISSUED, previousUntil: 0 });
    const second = await node.claim();
    expect(second).to.not.equal(lost);
    await expectUnauthenticated(node.authenticate(lost));
    await node.authenticate(second);
    expect((await tokenState(node.nodeId)).state).to.equal(NodeTokenState.NODE_TOKEN_STATE_ACTIVE);
    await expectUnauthenticated(node.claim());
    await node.authenticate(second);
  });

  it("recovers from a claim whose reply was lost in a daemon restart, without pairing again", async () => {
    const node = await approvedNode();
    await node.claim(); // committed, but pretend the reply never arrived
    await restart();
    const same = await reconnect(node, "");
    const token = await same.claim();
    await same.authenticate(token);
    await restart();
    const after = await reconnect(node, token);
    await after.authenticate();
    await expectUnauthenticated(after.claim());
  });

  it("keeps the previous token valid after RotateToken until the new one is used, across a restart, then retires it durably", async () => {
    const node = await approvedNode();
    const old = await node.claim();
    await node.authenticate(old);
    const fresh = await node.rotate();
    const listed = await tokenState(node.nodeId);
    expect(listed).to.deep.equal({ state: NodeTokenState.NODE_TOKEN_STATE_ISSUED, previousUntil: clock.now() + GRACE_MS });
    await restart();
    const back = await reconnect(node, old);
    await back.authenticate(old);
    await back.authenticate(old);
    await back.authenticate(fresh);
    await expectUnauthenticated(back.authenticate(old));
    await restart();
    const later = await reconnect(node, fresh);
    await expectUnauthenticated(later.authenticate(old));
    await later.authenticate(fresh);
    expect(await tokenState(node.nodeId)).to.deep.equal({ state: NodeTokenState.NODE_TOKEN_STATE_ACTIVE, previousUntil: 0 });
  });

  it("recovers from a rotation whose reply was lost: the old token still works and a repeated rotation replaces the unused one", async () => {
    const node = await approvedNode();
    const old = await node.claim();
    await node.authenticate(old);
    const lost = await node.rotate(); // committed, reply lost
    await restart();
    const back = await reconnect(node, old);
    await back.authenticate(old);
    const fresh = await back.rotate();
    await expectUnauthenticated(back.authenticate(lost));
    await back.authenticate(fresh);
    await expectUnauthenticated(back.authenticate(old));
  });

  it("refuses the previous token 10 minutes after the rotation, and a repeated rotation does not extend that", async () => {
    const node = await approvedNode();
    const old = await node.claim();
    await node.authenticate(old);
    await node.rotate();
    clock.advance(9 * 60_000);
    await node.authenticate(old);
    const fresh = await node.rotate();
    expect((await tokenState(node.nodeId)).previousUntil).to.equal(clock.now() - 9 * 60_000 + GRACE_MS);
    clock.advance(60_000 - 1);
    await node.authenticate(old);
    clock.advance(1);
    await expectUnauthenticated(node.authenticate(old));
    expect(await tokenState(node.nodeId)).to.deep.equal({ state: NodeTokenState.NODE_TOKEN_STATE_ISSUED, previousUntil: 0 });
    await node.authenticate(fresh);
  });

  it("refuses ClaimToken after a rotation, even while the rotated token is unused", async () => {
    const node = await approvedNode();
    await node.authenticate(await node.claim());
    await node.rotate();
    await expectUnauthenticated(node.claim());
  });

  it("lets concurrent first uses of a token all succeed", async () => {
    const node = await approvedNode();
    const token = await node.claim();
    const others = await Promise.all([1, 2, 3].map(() => reconnect(node, token)));
    await Promise.all(others.map((n) => n.authenticate(token)));
    expect((await tokenState(node.nodeId)).state).to.equal(NodeTokenState.NODE_TOKEN_STATE_ACTIVE);
  });

  it("makes neither token work after RevokeNode, and stores neither in clear", async () => {
    const node = await approvedNode();
    const old = await node.claim();
    await node.authenticate(old);
    const fresh = await node.rotate();
    await t.client.nodeAdmin.revokeNode(node.nodeId);
    await expectUnauthenticated(node.authenticate(old));
    await expectUnauthenticated(node.authenticate(fresh));
    await t.stop();
    const files = readdirSync(join(dir.path, "db")).map((f) => readFileSync(join(dir.path, "db", f)).toString("latin1"));
    for (const token of [old, fresh]) {
      expect(files.some((f) => f.includes(token.slice(4))), "token in clear on disk").to.equal(false);
    }
    t = await start();
  });
});
