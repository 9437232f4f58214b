import { expect } from "chai";
import { TestNode } from "../helpers/test-node";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { pairgate } from "./cli";

/** Two paired nodes whose ids start with the same hex digit (seeds searched deterministically). */
function seedsSharingFirstDigit(): [Uint8Array, Uint8Array] {
  const seed = (i: number): Uint8Array => new Uint8Array(32).fill(i);
  const first = new TestNode("127.0.0.1:1", seed(1));
  first.close();
  for (let i = 2; i < 256; i++) {
    const other = new TestNode("127.0.0.1:1", seed(i));
    other.close();
    if (other.nodeId[0] === first.nodeId[0]) return [seed(1), seed(i)];
  }
  throw new Error("no seed found");
}

describe("pairgate nodes: id prefixes (built CLI against a real daemon)", function () {
  this.timeout(30_000);
  let t: TestDaemon;
  const nodes: TestNode[] = [];

  beforeEach(async () => {
    t = await startTestDaemon();
    for (const seed of seedsSharingFirstDigit()) {
      const node = await new TestNode(t.daemon.nodeAddress, seed).init();
      nodes.push(node);
      const { requestId } = await node.requestPairing();
      await t.client.nodeAdmin.approveNode(requestId);
    }
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.close();
    await t.stop();
  });

  it("refuses an ambiguous node id prefix with exit 2 and lists the candidates, and accepts a unique one", async () => {
    const [a, b] = nodes as [TestNode, TestNode];
    const env = { PAIRGATE_SOCKET: t.daemon.socketPath };
    const ambiguous = await pairgate(["nodes", "revoke", a.nodeId.slice(0, 1)], env);
    expect(ambiguous.code).to.equal(2);
    expect(ambiguous.stderr).to.contain(a.nodeId.slice(0, 12)).and.contain(b.nodeId.slice(0, 12));
    const listed = await t.client.nodeAdmin.listNodes({});
    expect(listed.nodes).to.have.length(2);

    let unique = 1;
    while (a.nodeId.slice(0, unique) === b.nodeId.slice(0, unique)) unique++;
    const revoked = await pairgate(["nodes", "revoke", a.nodeId.slice(0, unique), "--yes"], env);
    expect(revoked.code).to.equal(0);
    expect(revoked.stdout).to.contain(`Revoked node ${a.nodeId.slice(0, 12)}`);
    expect((await t.client.nodeAdmin.listNodes({})).nodes.map((n) => n.nodeId)).to.deep.equal([b.nodeId]);

    const unknown = await pairgate(["nodes", "revoke", a.nodeId.slice(0, unique), "--yes"], env);
    expect(unknown.code).to.equal(1);
  });
});
