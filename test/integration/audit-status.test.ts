import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditRecord } from "../../clients/ts";
import { InvalidArgumentError } from "../../clients/ts";
import { startDaemon } from "../../src/daemon";
import { silentLogger } from "../../src/domain/logger";
import { expectRejection } from "../helpers/expect-error";
import { FakeClock } from "../helpers/fake-clock";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { pairedTestNode, TestNode } from "../helpers/test-node";
import { PairgateClient } from "../../clients/ts";

describe("audit trail and status through the daemon (AdminService)", () => {
  let t: TestDaemon | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const records = async (client: PairgateClient, actions: string[] = []): Promise<AuditRecord[]> =>
    (await client.admin.listAuditRecords({ actions, pageSize: 1000 })).records;

  it("records node approve, claim, rotate, rename, revoke and reject with node and request ids, and never a token", async () => {
    t = await startTestDaemon();
    const node = await pairedTestNode(t);
    const firstToken = node.token;
    const rotated = await node.rotate();
    await t.client.nodeAdmin.renameNode(node.nodeId, "Work phone");
    await t.client.nodeAdmin.revokeNode(node.nodeId);
    const other = await new TestNode(t.daemon.nodeAddress).init();
    const req = await other.requestPairing();
    await t.client.nodeAdmin.rejectNode(req.requestId);

    const rs = await records(t.client);
    expect(rs.map((r) => [r.action, r.role, r.subjectId])).to.deep.equal([
      ["node.approve", "owner", node.nodeId],
      ["node.claim", "node", node.nodeId],
      ["node.rotate", "node", node.nodeId],
      ["node.rename", "owner", node.nodeId],
      ["node.revoke", "owner", node.nodeId],
      ["node.reject", "owner", other.nodeId],
    ]);
    expect(rs[0]?.via).to.equal("owner");
    expect(rs[0]?.requestId).to.match(/^[0-9a-f]{32}$/);
    expect(rs[3]?.detail).to.equal("Work phone");
    const text = JSON.stringify(rs);
    for (const secret of [firstToken, rotated, node.sessionToken, firstToken.slice(4), rotated.slice(4)]) expect(text).to.not.contain(secret);
    other.close();
    node.close();
  });

  it("records a node request's expiry as role daemon", async () => {
    const clock = new FakeClock(Date.now());
    t = await startTestDaemon({ clock });
    const node = await new TestNode(t.daemon.nodeAddress).init();
    const req = await node.requestPairing();
    clock.advance(6 * 60_000);
    expect(await t.daemon.nodes.sweepExpired()).to.equal(1);
    const [r] = await records(t.client, ["node.expire"]);
    expect([r?.role, r?.subjectId, r?.requestId]).to.deep.equal(["daemon", node.nodeId, req.requestId]);
    node.close();
  });

  it("marks a loopback auto-approval as role node, via auto-loopback", async () => {
    t = await startTestDaemon({ config: { nodes: { autoApproveLoopback: true } } });
    const node = await new TestNode(t.daemon.nodeAddress).init();
    await node.requestPairing();
    const [r] = await records(t.client, ["node.approve"]);
    expect([r?.role, r?.via]).to.deep.equal(["node", "auto-loopback"]);
    node.close();
  });

  it("refuses an unknown action filter naming the field", async () => {
    t = await startTestDaemon();
    const err = await expectRejection(t.client.admin.listAuditRecords({ actions: ["pairing.nope"] }), InvalidArgumentError);
    expect(err.field).to.equal("actions");
  });

  it("records a config reload and a failed one, and applies the new retention at once", async () => {
    const dir = tempDir();
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0" } }));
    const daemon = await startDaemon({ home: dir.path, configPath: config, logger: silentLogger });
    const client = new PairgateClient({ socketPath: daemon.socketPath });
    try {
      for (let i = 0; i < 120; i++) await client.dmPairing.addAllowedSender({ channel: "telegram", senderId: String(1000 + i) });
      writeFileSync(config, "{ not json");
      expect(daemon.reload().ok).to.equal(false);
      writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, audit: { maxRecords: 100 } }));
      expect(daemon.reload().ok).to.equal(true);
      const until = Date.now() + 5000;
      let rs = await records(client);
      while (rs.length > 100 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        rs = await records(client);
      }
      expect(rs.length).to.equal(100);
      expect(rs.at(-1)?.action).to.equal("config.reload");
      expect(rs.at(-2)?.action).to.equal("config.reload_failed");
      expect(rs[0]?.subjectId).to.equal("1022");
    } finally {
      client.close();
      await daemon.stop();
      dir.cleanup();
    }
  });

  it("reports version, uptime, listeners, store state and counts in one GetDaemonStatus call", async () => {
    t = await startTestDaemon({ config: { channels: { telegram: { dmPolicy: "allowlist", allowFrom: ["1"] } } } });
    await pairedTestNode(t).then((n) => n.close());
    await t.client.dmPairing.addAllowedSender({ channel: "telegram", senderId: "2" });
    const s = await t.client.admin.getDaemonStatus();
    expect(s.version).to.equal("0.1.0");
    expect(s.pid).to.equal(process.pid);
    expect(s.nodeListenAddress).to.equal(t.daemon.nodeAddress);
    expect([s.nodeTls, s.nodeTlsSpkiSha256.length, s.pairedNodes, s.pendingNodes]).to.deep.equal([false, 0, 1, 0]);
    expect(s.store?.writable).to.equal(true);
    expect(s.socketPath).to.equal(t.daemon.socketPath);
    expect(s.auditRecords).to.equal(3);
    const tg = s.channels.find((c) => c.channel === "telegram" && c.accountId === "default");
    expect(tg?.allowedCount).to.equal(2);
  });
});
