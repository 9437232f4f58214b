import { existsSync } from "node:fs";
import { expect } from "chai";
import {
  type AuditRecord,
  type CheckInboundResponse,
  Decision,
  NodePairingStatus,
  NodeSignPurpose,
  NodeTokenState,
  NotFoundError,
  NotifyStatus,
  type PairgateClient,
  PairingEventType,
  tokenDigest,
  UnauthenticatedError,
  WatchNodeEventType,
} from "../../clients/ts";
import { until } from "../helpers/child";
import { followStream } from "../helpers/follow-stream";
import { withPostgres } from "../helpers/postgres";
import { nodeSeed, type SharedDaemon, type SharedDaemons, startSharedDaemon, startSharedDaemons } from "../helpers/shared-daemons";
import type { TestNode } from "../helpers/test-node";
import { CLI } from "./cli";

/**
 * Issue 12: two daemons, separate processes with their own state dirs, sockets and node listeners,
 * over ONE PostgreSQL database. Whatever one daemon acknowledges, the other sees and honours; single-use
 * things (nonces, codes, approvals, expiries) are used once across both.
 */

/**
 * Config of every daemon here. All test traffic comes from 127.0.0.1, so the per-address node limits
 * (10 RPC/s, 4 pending requests per peer) are raised: these tests are about sharing, not about them.
 */
const BASE_CONFIG = {
  nodes: { limits: { rpcPerSecond: 10_000, rpcBurst: 10_000, pendingPerPeer: 200, challengesPerPeer: 10_000 } },
};

const CHANNEL = "telegram";

/** Every audit record of `action`, all pages (bounded). */
async function auditRecords(client: PairgateClient, action: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let pageToken = "";
  for (let page = 0; page < 100; page++) {
    const res = await client.admin.listAuditRecords({ actions: [action], pageSize: 1000, pageToken });
    out.push(...res.records);
    if (res.nextPageToken === "") return out;
    pageToken = res.nextPageToken;
  }
  throw new Error(`more than 100 pages of ${action} audit records`);
}

/** The allowed sender ids of one channel account, as daemon `d` lists them (first page of 1000: these tests stay far below). */
async function allowedIds(d: SharedDaemon, accountId: string): Promise<string[]> {
  const res = await d.operator.dmPairing.listAllowedSenders({ channel: CHANNEL, accountId, pageSize: 1000 });
  return res.senders.map((s) => s.senderId).sort();
}

/** The pending requests' codes of one channel account, as daemon `d` lists them. */
async function pendingCodes(d: SharedDaemon, accountId: string): Promise<string[]> {
  const res = await d.operator.dmPairing.listPairingRequests({ channel: CHANNEL, accountId, pageSize: 1000 });
  return res.requests.map((r) => r.code).sort();
}

/** Resolves with the error `promise` rejects with, or undefined when it resolves. */
async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err;
  }
}

withPostgres("several daemons over one PostgreSQL (issue 12)", () => {
  describe("two daemons, separate processes, over one PostgreSQL database (issue 12)", function () {
    this.timeout(60_000);
    let running: SharedDaemons | undefined;

    before(() => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'make build' before the e2e tests`);
    });
    afterEach(async () => {
      await running?.stop();
      running = undefined;
    });

    /** Starts A and B (at once) over a fresh database with BASE_CONFIG plus `dm`. */
    async function startAB(dm: Record<string, unknown> = {}): Promise<[SharedDaemon, SharedDaemon]> {
      running = await startSharedDaemons({ config: { ...BASE_CONFIG, dm } });
      const [a, b] = running.daemons;
      if (a === undefined || b === undefined) throw new Error("expected two daemons");
      return [a, b];
    }

    /** One node identity with a client on each daemon: `[at A, at B]`. */
    async function nodeOnBoth(a: SharedDaemon, b: SharedDaemon): Promise<[TestNode, TestNode]> {
      const seed = nodeSeed();
      return [await a.node(seed), await b.node(seed)];
    }

    /** A node that requested pairing at `requestAt` and was approved by the owner at `approveAt`. */
    async function approvedNode(a: SharedDaemon, b: SharedDaemon, requestAt: "A" | "B", approveAt: SharedDaemon): Promise<[TestNode, TestNode]> {
      const [na, nb] = await nodeOnBoth(a, b);
      const req = await (requestAt === "A" ? na : nb).requestPairing();
      expect(req.status).to.equal(NodePairingStatus.NODE_PAIRING_STATUS_PENDING);
      await approveAt.operator.nodeAdmin.approveNode(req.requestId);
      return [na, nb];
    }

    it("presents one gateway identity from both daemons, created once in the shared store although both started at once", async () => {
      const [a, b] = await startAB();
      const [na, nb] = await nodeOnBoth(a, b);
      expect(na.gatewayId).to.match(/^[0-9a-f]{64}$/);
      expect(nb.gatewayId).to.equal(na.gatewayId);
      // Each daemon proves it holds the key behind that id (signature over a fresh client nonce).
      const provedA = await na.client.proveGateway({ gatewayId: na.gatewayId });
      const provedB = await nb.client.proveGateway({ gatewayId: na.gatewayId });
      expect(Buffer.from(provedB.publicKey).equals(Buffer.from(provedA.publicKey))).to.equal(true);
      const statusA = await a.operator.admin.getDaemonStatus();
      const statusB = await b.operator.admin.getDaemonStatus();
      expect(statusA.pid).to.not.equal(statusB.pid);
      expect(a.nodeAddress).to.not.equal(b.nodeAddress);
    });

    it("accepts at B an Authenticate that answers a challenge from A, and refuses the same nonce when it is replayed at A", async () => {
      const [a, b] = await startAB();
      const [na, nb] = await approvedNode(a, b, "A", a);
      const token = await na.claim();

      const nonce = await na.nonce();
      const signature = na.sign(NodeSignPurpose.connect, nonce, tokenDigest(token));
      const session = await nb.client.authenticate(nb.nodeId, nonce, signature, token);
      expect(session.sessionToken).to.match(/^pgs_/);

      const replayAtA = await errorOf(na.client.authenticate(na.nodeId, nonce, signature, token));
      expect(replayAtA, "the nonce was consumed at B").to.be.instanceOf(UnauthenticatedError);
      const replayAtB = await errorOf(nb.client.authenticate(nb.nodeId, nonce, signature, token));
      expect(replayAtB).to.be.instanceOf(UnauthenticatedError);
      // The credentials themselves are fine: a fresh nonce from either daemon works.
      expect(await na.authenticate(token)).to.match(/^pgs_/);
    });

    it("lets AwaitPairing at A see, within 1 s, an approval made with the CLI on B's socket", async () => {
      const [a, b] = await startAB();
      const [na] = await nodeOnBoth(a, b);
      const req = await na.requestPairing();
      const awaiting = followStream(na.client.awaitPairing(req.requestId, na.nodeId));
      await until(() => (awaiting.items.length >= 1 ? true : undefined), "AwaitPairing's first status at A", 5_000);
      expect(awaiting.items.map((u) => u.status)).to.deep.equal([NodePairingStatus.NODE_PAIRING_STATUS_PENDING]);

      const pending = JSON.parse((await b.cli(["nodes", "pending", "--json"])).stdout) as { requests: Array<{ requestId: string }> };
      expect(pending.requests.map((r) => r.requestId), "B lists the request made at A").to.deep.equal([req.requestId]);
      const approved = await b.cli(["nodes", "approve", req.requestId.slice(0, 8)]);
      expect(approved.code, approved.stderr).to.equal(0);
      expect(approved.stdout).to.contain("Approved node");
      const approvedAt = Date.now();

      const ended = await Promise.race([awaiting.ended, new Promise((r) => setTimeout(() => r("still open"), 5_000))]);
      expect(ended, "AwaitPairing at A ends cleanly after APPROVED").to.equal(undefined);
      expect(awaiting.items.map((u) => u.status)).to.deep.equal([
        NodePairingStatus.NODE_PAIRING_STATUS_PENDING,
        NodePairingStatus.NODE_PAIRING_STATUS_APPROVED,
      ]);
      expect(awaiting.endedAt() - approvedAt, "ms from B's approval to APPROVED at A").to.be.lessThan(1000);
    });

    it("lets a node claim its token at A, authenticate at B and heartbeat at A with B's session", async () => {
      const [a, b] = await startAB();
      const [na, nb] = await approvedNode(a, b, "B", b);
      const token = await na.claim();
      expect(token).to.match(/^pgn_/);
      const nonce = await nb.nonce();
      const auth = await nb.client.authenticate(nb.nodeId, nonce, nb.sign(NodeSignPurpose.connect, nonce, tokenDigest(token)), token);
      const session = auth.sessionToken;
      const issuedEnd = Number(auth.expiresAtMs);
      expect(issuedEnd).to.be.greaterThan(Date.now() + 14 * 60_000);

      // Both daemons report the end of the session B issued. (Each converts the stored wall-clock end
      // to its monotonic clock and back, so the value may move by a few ms; a new session would end later.)
      const beatA = await na.client.heartbeat(session);
      const beatB = await nb.client.heartbeat(session);
      expect(Math.abs(Number(beatA.sessionExpiresAtMs) - issuedEnd), "session end at A vs issued at B (ms)").to.be.lessThan(1000);
      expect(Math.abs(Number(beatB.sessionExpiresAtMs) - issuedEnd), "session end at B vs issued at B (ms)").to.be.lessThan(1000);
      // The token's first use (at B) is what A reports.
      const listed = await a.operator.nodeAdmin.listNodes({});
      expect(listed.nodes.map((n) => [n.nodeId, n.tokenState])).to.deep.equal([[na.nodeId, NodeTokenState.NODE_TOKEN_STATE_ACTIVE]]);
      // A claim after the token was used fails on either daemon.
      expect(await errorOf(nb.claim())).to.be.instanceOf(UnauthenticatedError);
    });

    it("ends B's WatchNode stream and B's session within 1 s of a revoke at A, and refuses authentication at B at once", async () => {
      const [a, b] = await startAB();
      const [na, nb] = await approvedNode(a, b, "A", a);
      const token = await na.claim();
      const session = await nb.authenticate(token);
      const watch = followStream(nb.client.watchNode(session));
      await until(() => (watch.items.length >= 1 ? true : undefined), "WatchNode's SUBSCRIBED at B", 5_000);

      await a.operator.nodeAdmin.revokeNode(na.nodeId);
      const revokedAt = Date.now();
      // At once: no waiting between RevokeNode returning at A and this attempt at B.
      const authAfter = await errorOf(nb.authenticate(token));
      expect(authAfter, "authenticate at B right after the revoke at A").to.be.instanceOf(UnauthenticatedError);

      const ended = await Promise.race([watch.ended, new Promise((r) => setTimeout(() => r("still open"), 5_000))]);
      expect(ended, "B's WatchNode stream ends with UNAUTHENTICATED").to.be.instanceOf(UnauthenticatedError);
      expect(watch.endedAt() - revokedAt, "ms from the revoke at A to the end of B's stream").to.be.lessThan(1000);
      expect(watch.items.map((e) => e.type)).to.deep.equal([
        WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED,
        WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED,
      ]);

      // B's session: poll its heartbeat (bounded) until it fails, which must be within 1 s of the revoke.
      let sessionEnded: unknown;
      for (let i = 0; i < 100 && sessionEnded === undefined && Date.now() - revokedAt < 1000; i++) {
        sessionEnded = await errorOf(nb.client.heartbeat(session));
        if (sessionEnded === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      expect(sessionEnded, "B's session ends within 1 s of the revoke at A").to.be.instanceOf(UnauthenticatedError);
      expect(await errorOf(na.client.heartbeat(session)), "the session is gone at A too").to.be.instanceOf(UnauthenticatedError);
      expect((await b.operator.nodeAdmin.listNodes({})).nodes).to.deep.equal([]);
    });

    it("issues one code for one unknown sender checked concurrently through A and B", async () => {
      const [a, b] = await startAB();
      // Several races at once, one sender per account (so the per-account queue never matters).
      const senders = Array.from({ length: 8 }, (_, i) => ({ accountId: `race${i}`, senderId: `10${i}42` }));
      const answers = await Promise.all(
        senders.map(async (s) => {
          const ask = (d: SharedDaemon): Promise<CheckInboundResponse> =>
            d.adapter.dmAccess.checkInbound({ channel: CHANNEL, accountId: s.accountId, senderId: s.senderId });
          return Promise.all([ask(a), ask(b)]);
        }),
      );
      for (const [i, [viaA, viaB]] of answers.entries()) {
        const s = senders[i]!;
        expect(viaA.decision, s.accountId).to.equal(Decision.DECISION_PAIRING_REQUIRED);
        expect(viaB.decision, s.accountId).to.equal(Decision.DECISION_PAIRING_REQUIRED);
        expect(viaA.pairingCode, `${s.accountId}: a code via A`).to.match(/^[A-Z2-9]{8}$/);
        expect(viaB.pairingCode, `${s.accountId}: the same code via B`).to.equal(viaA.pairingCode);
        // One code means one reply to the sender: the second answer reuses the code and sends nothing.
        const replies = [viaA, viaB].filter((v) => v.replyText !== "").length;
        expect(replies, `${s.accountId}: answers carrying reply text`).to.equal(1);
        expect(await pendingCodes(a, s.accountId), `${s.accountId} at A`).to.deep.equal([viaA.pairingCode]);
        expect(await pendingCodes(b, s.accountId), `${s.accountId} at B`).to.deep.equal([viaA.pairingCode]);
      }
    });

    it("lets exactly one of two concurrent approvals of one code (at A and at B) succeed and adds one allowlist entry", async () => {
      const [a, b] = await startAB();
      const races = Array.from({ length: 6 }, (_, i) => ({ accountId: `appr${i}`, senderId: `20${i}77` }));
      const codes: string[] = [];
      for (const [i, r] of races.entries()) {
        const v = await (i % 2 === 0 ? a : b).adapter.dmAccess.checkInbound({ channel: CHANNEL, ...r });
        codes.push(v.pairingCode);
      }
      const outcomes = await Promise.all(
        races.map((r, i) =>
          Promise.allSettled([a, b].map((d) => d.operator.dmPairing.approvePairingCode({ channel: CHANNEL, accountId: r.accountId, code: codes[i]! }))),
        ),
      );
      const approvals = await auditRecords(b.operator, "pairing.approve");
      for (const [i, [atA, atB]] of outcomes.entries()) {
        const r = races[i]!;
        const won = [atA!, atB!].filter((o) => o.status === "fulfilled");
        const lost = [atA!, atB!].flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
        expect(won.length, `${r.accountId}: successful approvals (A: ${atA!.status}, B: ${atB!.status})`).to.equal(1);
        expect(lost[0], `${r.accountId}: the other approval`).to.be.instanceOf(NotFoundError);
        expect(await allowedIds(a, r.accountId), `${r.accountId} allowlist at A`).to.deep.equal([r.senderId]);
        expect(await allowedIds(b, r.accountId), `${r.accountId} allowlist at B`).to.deep.equal([r.senderId]);
        expect(await pendingCodes(b, r.accountId)).to.deep.equal([]);
        expect(approvals.filter((x) => x.accountId === r.accountId && x.subjectId === r.senderId), `${r.accountId}: pairing.approve records`).to.have.length(1);
      }
    });

    it("gives exactly 3 codes to ten unknown senders split across A and B when dm.maxPending is 3", async () => {
      const [a, b] = await startAB({ maxPending: 3 });
      const senders = Array.from({ length: 10 }, (_, i) => `30${i}99`);
      const answers = await Promise.all(
        senders.map((senderId, i) => (i % 2 === 0 ? a : b).adapter.dmAccess.checkInbound({ channel: CHANNEL, senderId })),
      );
      const codes = answers.map((v) => v.pairingCode).filter((c) => c !== "");
      expect(codes, `codes issued (reasons: ${answers.map((v) => v.reason).join(" | ")})`).to.have.length(3);
      expect(new Set(codes).size).to.equal(3);
      for (const v of answers) expect(v.decision).to.equal(Decision.DECISION_PAIRING_REQUIRED);
      const refused = answers.filter((v) => v.pairingCode === "");
      for (const v of refused) expect(v.reason).to.match(/queue full/);
      expect(await pendingCodes(a, "default")).to.deep.equal([...codes].sort());
      expect(await pendingCodes(b, "default")).to.deep.equal([...codes].sort());
      const status = (await a.operator.dmPairing.listChannels()).channels.find((c) => c.channel === CHANNEL && c.accountId === "default");
      expect(status?.pendingCount).to.equal(3);
    });

    it("delivers to an adapter subscribed at B the notice of an approval made at A", async () => {
      const [a, b] = await startAB();
      const feed = followStream(b.adapter.dmAccess.subscribeNotifications({ channel: CHANNEL }));
      await until(async () => {
        const st = (await b.operator.dmPairing.listChannels()).channels.find((c) => c.channel === CHANNEL && c.accountId === "default");
        return (st?.adaptersConnected ?? 0) >= 1 ? true : undefined;
      }, "the adapter's subscription at B", 5_000);

      // A learns of B's adapter from B's record in the store.
      await until(async () => {
        const st = await a.operator.admin.getDaemonStatus();
        return st.instances.some((i) => !i.thisDaemon && i.adapterAccounts.includes(`${CHANNEL}/default`)) ? true : undefined;
      }, "B's adapter in B's record as A reads it", 5_000);

      const { pairingCode } = await b.adapter.dmAccess.checkInbound({ channel: CHANNEL, senderId: "404040" });
      const approved = await a.operator.dmPairing.approvePairingCode({ channel: CHANNEL, code: pairingCode, notify: true });
      expect(approved.notifyStatus, "an adapter at B counts for an approval at A").to.equal(NotifyStatus.NOTIFY_STATUS_QUEUED);
      expect(approved.notificationId).to.not.equal("");
      await until(() => (feed.items.length >= 1 ? true : undefined), "the notice at B's adapter", 5_000);
      expect(feed.items.map((n) => n.notification?.notificationId)).to.deep.equal([approved.notificationId]);
      expect(feed.items[0]?.notification).to.include({ channel: CHANNEL, accountId: "default", senderId: "404040" });

      await b.adapter.dmAccess.ackNotification(approved.notificationId);
      for (const d of [a, b]) {
        const st = (await d.operator.dmPairing.listChannels()).channels.find((c) => c.channel === CHANNEL && c.accountId === "default");
        expect(st?.undeliveredNotifications, `undelivered notices at ${d.name} after the ack at B`).to.equal(0);
      }
      await feed.cancel();
      await until(async () => {
        const st = await a.operator.admin.getDaemonStatus();
        return st.instances.every((i) => i.adapterAccounts.length === 0) ? true : undefined;
      }, "B's record to show its adapter gone", 5_000);
      const second = await b.adapter.dmAccess.checkInbound({ channel: CHANNEL, senderId: "505050" });
      const alone = await a.operator.dmPairing.approvePairingCode({ channel: CHANNEL, code: second.pairingCode, notify: true });
      expect(alone.notifyStatus, "no adapter at any daemon").to.equal(NotifyStatus.NOTIFY_STATUS_NO_ADAPTER);
    });

    it("lists every daemon sharing the store, and doctor warns when one runs with a different config", async function () {
      const [a, b] = await startAB();
      const status = await a.operator.admin.getDaemonStatus();
      expect(status.instances.map((i) => i.nodeListenAddress).sort()).to.deep.equal([a.nodeAddress, b.nodeAddress].sort());
      expect(status.instances[0]?.thisDaemon).to.equal(true);
      expect(new Set(status.instances.map((i) => i.configFingerprint))).to.have.property("size", 1);
      const human = await a.cli(["status"]);
      expect(human.stdout).to.include("daemons:         2 share this store");
      expect(human.stdout).to.include(`pid ${(await b.operator.admin.getDaemonStatus()).pid}, nodes on ${b.nodeAddress}`);
      const same = await a.cli(["doctor", "--json"]);
      const findings = (JSON.parse(same.stdout) as { findings: { severity: string; check: string; message: string }[] }).findings;
      expect(findings.filter((f) => f.check === "instances").map((f) => f.severity)).to.deep.equal(["ok"]);

      const c = await startSharedDaemon("C", running!.url, { ...BASE_CONFIG, dm: { maxPending: 7 } });
      try {
        const cPid = (await c.operator.admin.getDaemonStatus()).pid;
        const differs = await a.cli(["doctor", "--json"]);
        const warn = (JSON.parse(differs.stdout) as { findings: { severity: string; check: string; message: string }[] }).findings.filter((f) => f.check === "instances");
        expect(warn.map((f) => f.severity)).to.deep.equal(["warning"]);
        expect(warn[0]?.message).to.include(`pid ${cPid}`);
        expect(warn[0]?.message).to.include("different config");
      } finally {
        await c.stop();
      }
      await until(async () => ((await a.operator.admin.getDaemonStatus()).instances.length === 2 ? true : undefined), "C's record removed at its stop", 5_000);
    });

    it("emits exactly one expired event per request while both daemons sweep", async function () {
      // dm.pendingTtlMs cannot go below 60 s (src/config/schema.ts), and a subprocess has no clock seam.
      this.timeout(150_000);
      const [a, b] = await startAB({ pendingTtlMs: 60_000, sweepIntervalMs: 100 });
      const watchers = [a, b].map((d) => ({ name: d.name, stream: followStream(d.operator.dmPairing.watchPairingEvents({})) }));
      // Give both watch streams a moment to be registered (events before that are not replayed).
      await new Promise((r) => setTimeout(r, 300));

      const requests: Array<{ accountId: string; senderId: string; code: string }> = [];
      for (let i = 0; i < 6; i++) {
        const accountId = `exp${i % 3}`;
        const senderId = `50${i}55`;
        const v = await (i % 2 === 0 ? a : b).adapter.dmAccess.checkInbound({ channel: CHANNEL, accountId, senderId });
        expect(v.pairingCode).to.not.equal("");
        requests.push({ accountId, senderId, code: v.pairingCode });
      }
      const ofType = (w: (typeof watchers)[number], type: PairingEventType) => w.stream.items.filter((e) => e.type === type);
      for (const w of watchers) {
        await until(() => (ofType(w, PairingEventType.PAIRING_EVENT_TYPE_REQUESTED).length >= 6 ? true : undefined), `6 requested events at ${w.name}`, 5_000);
      }

      // Every request expires 60 s after creation; both daemons sweep every 100 ms.
      for (const w of watchers) {
        await until(() => (ofType(w, PairingEventType.PAIRING_EVENT_TYPE_EXPIRED).length >= 6 ? true : undefined), `6 expired events at ${w.name}`, 90_000);
      }
      // Let both sweepers run many more rounds: a duplicate would show up now.
      await new Promise((r) => setTimeout(r, 1500));

      for (const w of watchers) {
        const expired = ofType(w, PairingEventType.PAIRING_EVENT_TYPE_EXPIRED);
        for (const r of requests) {
          const mine = expired.filter((e) => e.accountId === r.accountId && e.senderId === r.senderId);
          expect(mine, `expired events for ${r.accountId}/${r.senderId} seen at ${w.name}`).to.have.length(1);
          expect(mine[0]?.code).to.equal(r.code);
        }
        expect(expired, `expired events at ${w.name}`).to.have.length(requests.length);
        expect(ofType(w, PairingEventType.PAIRING_EVENT_TYPE_REQUESTED), `requested events at ${w.name}`).to.have.length(requests.length);
      }
      const audited = await auditRecords(b.operator, "pairing.expire");
      for (const r of requests) {
        expect(audited.filter((x) => x.accountId === r.accountId && x.subjectId === r.senderId), `pairing.expire records of ${r.accountId}/${r.senderId}`).to.have.length(1);
      }
      for (const accountId of ["exp0", "exp1", "exp2"]) {
        expect(await pendingCodes(a, accountId)).to.deep.equal([]);
        expect(await pendingCodes(b, accountId)).to.deep.equal([]);
      }
      for (const w of watchers) await w.stream.cancel();
    });

    it("keeps B serving when A is SIGKILLed under load, and loses nothing A acknowledged before the kill", async () => {
      const [a, b] = await startAB();
      // DM load: 30 pending codes over 10 accounts, made at B, to be approved at A.
      const pending: Array<{ accountId: string; senderId: string; code: string }> = [];
      for (let acct = 0; acct < 10; acct++) {
        for (let i = 0; i < 3; i++) {
          const accountId = `load${acct}`;
          const senderId = `6${acct}0${i}`;
          const v = await b.adapter.dmAccess.checkInbound({ channel: CHANNEL, accountId, senderId });
          pending.push({ accountId, senderId, code: v.pairingCode });
        }
      }
      // Node load: 8 nodes approved (at B), to claim their tokens at A.
      const nodes: Array<[TestNode, TestNode]> = [];
      for (let i = 0; i < 8; i++) nodes.push(await approvedNode(a, b, "A", b));

      // B's own steady traffic, before, during and after the kill: a read and a write per round.
      await b.operator.dmPairing.addAllowedSender({ channel: CHANNEL, accountId: "steady", senderId: "777" });
      let steadyOn = true;
      let killedAt = 0;
      let roundsAfterKill = 0;
      const steadyFailures: unknown[] = [];
      const steady = (async () => {
        for (let round = 0; round < 100_000 && steadyOn; round++) {
          try {
            const v = await b.adapter.dmAccess.checkInbound({ channel: CHANNEL, accountId: "steady", senderId: "777" });
            expect(v.decision).to.equal(Decision.DECISION_ALLOW);
            await b.operator.dmPairing.addAllowedSender({ channel: CHANNEL, accountId: "steady", senderId: `8${round}` });
            if (killedAt > 0) roundsAfterKill++;
          } catch (err) {
            steadyFailures.push(err);
          }
        }
      })();

      // A is SIGKILLed once it has acknowledged 3 approvals and 2 claims. The calls go out through a few
      // concurrent workers each (a steady stream rather than one burst), so both kinds are in flight then.
      const ackedApprovals = new Set<string>();
      const ackedClaims = new Map<number, string>();
      let inFlight = 0;
      let inFlightAtKill = -1;
      const kill = (): void => {
        if (killedAt !== 0) return;
        killedAt = Date.now();
        inFlightAtKill = inFlight;
        a.process.child.kill("SIGKILL");
      };
      const onAck = (): void => {
        if (ackedApprovals.size >= 3 && ackedClaims.size >= 2) kill();
      };
      const workers = <T>(count: number, items: readonly T[], call: (item: T) => Promise<void>): Array<Promise<void>> => {
        const queue = [...items];
        return Array.from({ length: count }, async () => {
          for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
            inFlight++;
            await call(item).catch(() => undefined); // failed: A died, the call is unacknowledged
            inFlight--;
          }
        });
      };
      await Promise.all([
        ...workers(3, pending, async (p) => {
          await a.operator.dmPairing.approvePairingCode({ channel: CHANNEL, accountId: p.accountId, code: p.code });
          ackedApprovals.add(p.code);
          onAck();
        }),
        ...workers(2, [...nodes.keys()], async (i) => {
          ackedClaims.set(i, await nodes[i]![0].claim());
          onAck();
        }),
      ]);
      kill();
      await a.kill();
      expect(ackedApprovals.size, "approvals A acknowledged").to.be.greaterThanOrEqual(3);
      expect(ackedClaims.size, "claims A acknowledged").to.be.greaterThanOrEqual(2);
      expect(inFlightAtKill, "calls still in flight at A when it was killed").to.be.greaterThan(0);

      // B keeps serving: its traffic goes on after the kill without a single failure.
      await until(() => (roundsAfterKill >= 20 ? true : undefined), "20 rounds of B's traffic after the kill", 15_000);
      steadyOn = false;
      await steady;
      expect(steadyFailures.map(String), "B's calls that failed").to.deep.equal([]);

      // Every approval A acknowledged is on B's allowlist, with its audit record; the others are all or
      // nothing (still pending with their code, or allowed) and can be finished at B.
      const approvals = await auditRecords(b.operator, "pairing.approve");
      for (const p of pending) {
        const allowed = (await allowedIds(b, p.accountId)).includes(p.senderId);
        const stillPending = (await pendingCodes(b, p.accountId)).includes(p.code);
        const audited = approvals.filter((x) => x.accountId === p.accountId && x.subjectId === p.senderId).length;
        if (ackedApprovals.has(p.code)) {
          expect(allowed, `acknowledged approval of ${p.accountId}/${p.senderId} at B`).to.equal(true);
          expect(stillPending, `acknowledged approval of ${p.accountId}/${p.senderId}: request gone`).to.equal(false);
          expect(audited, `acknowledged approval of ${p.accountId}/${p.senderId}: audit record`).to.equal(1);
        } else {
          expect(allowed !== stillPending, `unacknowledged approval of ${p.accountId}/${p.senderId}: allowed ${allowed}, pending ${stillPending}`).to.equal(true);
          expect(audited, `unacknowledged approval of ${p.accountId}/${p.senderId}: audit records`).to.equal(allowed ? 1 : 0);
          if (stillPending) await b.operator.dmPairing.approvePairingCode({ channel: CHANNEL, accountId: p.accountId, code: p.code });
        }
      }
      // Every token A handed out authenticates at B; a node whose claim was not acknowledged claims again at B.
      for (const [i, [, nb]] of nodes.entries()) {
        const token = ackedClaims.get(i) ?? (await nb.claim());
        const session = await nb.authenticate(token);
        await nb.client.heartbeat(session);
      }
      const listed = await b.operator.nodeAdmin.listNodes({});
      expect(listed.nodes.map((n) => n.nodeId).sort()).to.deep.equal(nodes.map(([na]) => na.nodeId).sort());
    });
  });
});
