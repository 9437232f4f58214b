import { expect } from "chai";
import { withPostgres, freshDatabase } from "../helpers/postgres";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";
import { TestNode } from "../helpers/test-node";

/**
 * Two daemons in this process over one PostgreSQL database (the multi-process scenarios are in
 * test/e2e/multi-instance.e2e.test.ts): what must exist once per store.
 */
withPostgres("daemons sharing a PostgreSQL store", () => {
  describe("daemons sharing a PostgreSQL store", function () {
    this.timeout(60_000);
    let a: TestDaemon;
    let b: TestDaemon;
    let config: Record<string, unknown>;
    beforeEach(async () => {
      const url = await freshDatabase();
      config = { storage: { kind: "postgres", url }, nodes: { tls: "auto" } };
      // Started together: the schema migration and the identity are each made exactly once.
      [a, b] = await Promise.all([startTestDaemon({ config }), startTestDaemon({ config })]);
    });
    afterEach(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it("creates the gateway identity and the auto TLS key once: both daemons present the same gateway id and SPKI pin", async () => {
      expect(a.daemon.nodes.gatewayId).to.match(/^[0-9a-f]{64}$/);
      expect(b.daemon.nodes.gatewayId).to.equal(a.daemon.nodes.gatewayId);
      const [ta, tb] = await Promise.all([a.client.nodeAdmin.getNodeTls(), b.client.nodeAdmin.getNodeTls()]);
      expect(ta.spkiSha256).to.have.length(32);
      expect(Buffer.compare(ta.spkiSha256, tb.spkiSha256), "one SPKI pin for every daemon").to.equal(0);
      // Each daemon issues its own certificate (its own names), for the one key.
      expect(ta.certificateSha256).to.not.deep.equal(Buffer.alloc(0));
    });

    it("reports the store as PostgreSQL, and a code minted at one daemon is reused and approved at the other", async () => {
      const store = await a.client.admin.getStoreStatus();
      expect(store.storeId).to.match(/^postgres postgres:\/\/pairgate@127\.0\.0\.1:\d+\/t_[0-9a-f]+$/);
      expect(store.writable).to.equal(true);
      expect(store.gatewayId).to.equal(a.daemon.nodes.gatewayId);
      const first = await a.client.dmAccess.checkInbound({ channel: "telegram", accountId: "", senderId: "7", senderMeta: {}, sentAtMs: 0 });
      const again = await b.client.dmAccess.checkInbound({ channel: "telegram", accountId: "", senderId: "7", senderMeta: {}, sentAtMs: 0 });
      expect(again.pairingCode, "B reuses A's code").to.equal(first.pairingCode);
      await b.client.dmPairing.approvePairingCode({ channel: "telegram", accountId: "", code: first.pairingCode, notify: false });
      const allowed = await a.client.dmAccess.checkInbound({ channel: "telegram", accountId: "", senderId: "7", senderMeta: {}, sentAtMs: 0 });
      expect(allowed.reason).to.equal("sender is approved");
    });

    it("tells a daemon started after an approval that the request was already approved (resolved requests are in the store)", async () => {
      const plain = await startTestDaemon({ config: { storage: (config as { storage: unknown }).storage } });
      let late: TestDaemon | undefined;
      const node = await new TestNode(plain.daemon.nodeAddress).init();
      try {
        const { requestId } = await node.requestPairing();
        await plain.client.nodeAdmin.approveNode(requestId);
        late = await startTestDaemon({ config: { storage: (config as { storage: unknown }).storage } });
        const err = await late.client.nodeAdmin.approveNode(requestId).then(
          () => undefined,
          (e: Error & { code?: string }) => e,
        );
        expect(err?.code, "FAILED_PRECONDITION, not NOT_FOUND: the daemon that never saw the approval knows it").to.equal("failed_precondition");
        expect(err?.message).to.include("already approved");
      } finally {
        node.client.close();
        await late?.stop();
        await plain.stop();
      }
    });
  });
});
