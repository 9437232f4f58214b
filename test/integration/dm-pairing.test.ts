import { expect } from "chai";
import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  DaemonNotRunningError,
  Decision,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotifyStatus,
  PairgateClient,
  PairingEventType,
  SenderSource,
  UnavailableError,
  type ServerStream,
  type WatchPairingEventsResponse,
} from "../../clients/ts";
import { DaemonStartError, startDaemon } from "../../src/daemon";
import { parseConfig } from "../../src/config/load";
import { silentLogger } from "../../src/domain/logger";
import { expectRejection } from "../helpers/expect-error";
import { FakeClock } from "../helpers/fake-clock";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

const run = promisify(execFile);

/** Collects stream messages in the background. */
function collect<T>(stream: ServerStream<T>): { items: T[]; done: Promise<unknown> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const m of stream) items.push(m);
  })().catch((err: unknown) => err);
  return { items, done };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("DM pairing through the daemon (real LevelDB, real socket, clients/ts)", () => {
  let t: TestDaemon;
  afterEach(async () => {
    await t?.stop();
  });

  describe("with the default config", () => {
    beforeEach(async () => {
      t = await startTestDaemon();
    });

    it("issues a code to an unknown sender and allows the sender once the code is approved", async () => {
      const first = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "123456789" });
      expect(first.decision).to.equal(Decision.DECISION_PAIRING_REQUIRED);
      expect(first.pairingCode).to.match(/^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/);
      expect(first.replyText).to.contain(`Pairing code: ${first.pairingCode}`);
      const approved = await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: first.pairingCode.toLowerCase() });
      expect(approved.sender?.senderId).to.equal("123456789");
      expect(approved.sender?.source).to.equal(SenderSource.SENDER_SOURCE_APPROVED);
      const after = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "123456789" });
      expect(after.decision).to.equal(Decision.DECISION_ALLOW);
      const err = await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "telegram", code: first.pairingCode }), NotFoundError);
      expect(err.message).to.equal(`No pending pairing request found for code: ${first.pairingCode} (expired, already approved, or mistyped; see pairgate pairing list)`);
    });

    it("answers an unknown channel with INVALID_ARGUMENT naming the field and the supported channels", async () => {
      const err = await expectRejection(t.client.dmAccess.checkInbound({ channel: "irc", senderId: "1" }), InvalidArgumentError);
      expect(err.field).to.equal("channel");
      expect(err.message).to.match(/^Channel irc does not support pairing \(supported: telegram, whatsapp/);
    });

    it("rejects out-of-range input at the boundary and changes nothing", async () => {
      const err = await expectRejection(
        t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "x".repeat(2000) }),
        InvalidArgumentError,
      );
      expect(err.field).to.equal("sender_id");
      const list = await t.client.dmPairing.listPairingRequests({ channel: "telegram" });
      expect(list.requests).to.have.length(0);
    });

    it("queues an approval notice with --notify even with no adapter, and delivers it when one subscribes", async () => {
      const { pairingCode } = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "42" });
      const res = await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: pairingCode, notify: true });
      expect(res.notifyStatus).to.equal(NotifyStatus.NOTIFY_STATUS_NO_ADAPTER);
      expect(res.notificationId).to.not.equal("");
      const feed = collect(t.client.dmAccess.subscribeNotifications({ channel: "telegram" }));
      await until(() => feed.items.length === 1);
      expect(feed.items[0]?.notification).to.include({ senderId: "42", notificationId: res.notificationId });
      expect(feed.items[0]?.notification?.text).to.equal("✅ pairgate access approved. Send a message to start chatting.");
    });

    it("pushes a notice to a connected adapter, redelivers it after reconnect until acknowledged", async () => {
      const stream1 = t.client.dmAccess.subscribeNotifications({ channel: "telegram" });
      const feed1 = collect(stream1);
      // Wait until the daemon has registered the adapter.
      let status;
      for (let i = 0; i < 100; i++) {
        status = (await t.client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram");
        if (status?.adaptersConnected === 1) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(status?.adaptersConnected).to.equal(1);

      const { pairingCode } = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "43" });
      const res = await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: pairingCode, notify: true });
      expect(res.notifyStatus).to.equal(NotifyStatus.NOTIFY_STATUS_QUEUED);
      await until(() => feed1.items.length === 1);
      stream1.cancel();
      await feed1.done;

      // Not acknowledged: a reconnecting adapter gets it again.
      const stream2 = t.client.dmAccess.subscribeNotifications({ channel: "telegram" });
      const feed2 = collect(stream2);
      await until(() => feed2.items.length === 1);
      expect(feed2.items[0]?.notification?.notificationId).to.equal(res.notificationId);
      await t.client.dmAccess.ackNotification(res.notificationId);
      stream2.cancel();
      await feed2.done;

      const stream3 = t.client.dmAccess.subscribeNotifications({ channel: "telegram" });
      const feed3 = collect(stream3);
      await new Promise((r) => setTimeout(r, 150));
      expect(feed3.items).to.have.length(0);
      stream3.cancel();
      const after = (await t.client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram");
      expect(after?.undeliveredNotifications).to.equal(0);
    });

    it("streams requested, approved, rejected and revoked events to watchers", async () => {
      const stream = t.client.dmPairing.watchPairingEvents({ channel: "telegram" });
      const watch = collect<WatchPairingEventsResponse>(stream);
      await new Promise((r) => setTimeout(r, 50));
      const a = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "1" });
      const b = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "2" });
      await t.client.dmAccess.checkInbound({ channel: "slack", senderId: "U1" }); // filtered out
      await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: a.pairingCode });
      await t.client.dmPairing.rejectPairingRequest({ channel: "telegram", code: b.pairingCode });
      await t.client.dmPairing.revokeAllowedSender({ channel: "telegram", senderId: "1" });
      await until(() => watch.items.length === 5);
      expect(watch.items.map((e) => PairingEventType[e.type])).to.deep.equal([
        "PAIRING_EVENT_TYPE_REQUESTED",
        "PAIRING_EVENT_TYPE_REQUESTED",
        "PAIRING_EVENT_TYPE_APPROVED",
        "PAIRING_EVENT_TYPE_REJECTED",
        "PAIRING_EVENT_TYPE_REVOKED",
      ]);
      stream.cancel();
    });

    it("keeps approvals after a restart (grants are synced)", async () => {
      const { pairingCode } = await t.client.dmAccess.checkInbound({ channel: "whatsapp", senderId: "+1 555 000 1111" });
      await t.client.dmPairing.approvePairingCode({ channel: "whatsapp", code: pairingCode });
      const home = t.home;
      t.client.close();
      await t.daemon.stop();
      const again = await startTestDaemon({ home });
      try {
        const v = await again.client.dmAccess.checkInbound({ channel: "whatsapp", senderId: "+15550001111" });
        expect(v.decision).to.equal(Decision.DECISION_ALLOW);
      } finally {
        await again.stop();
      }
    });

    it("creates the socket with mode 0600 in a state dir with mode 0700", () => {
      expect(statSync(t.daemon.socketPath).mode & 0o777).to.equal(0o600);
      expect(statSync(t.home).mode & 0o777).to.equal(0o700);
    });

    it("refuses a second daemon on the same state dir with a clear message", async () => {
      const err = await expectRejection(
        startDaemon({ home: t.home, config: parseConfig({}), logger: silentLogger }),
        DaemonStartError,
      );
      expect(err.message).to.equal(`another pairgate daemon is using ${t.home}`);
      // The first daemon still answers.
      await t.client.dmPairing.listChannels();
    });

    it("ends open streams with UNAVAILABLE when the daemon stops", async () => {
      const stream = t.client.dmPairing.watchPairingEvents({});
      const watch = collect(stream);
      await new Promise((r) => setTimeout(r, 50));
      await t.daemon.stop();
      expect(await watch.done).to.be.instanceOf(UnavailableError);
    });

    it("serves grpc.health.v1 and reflection for its own services (checked with buf curl)", async () => {
      const buf = join(__dirname, "..", "..", "node_modules", ".bin", "buf");
      const base = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", t.daemon.socketPath];
      const methods = await run(buf, [...base, "--list-methods", "http://pairgate"]);
      expect(methods.stdout).to.contain("pairgate.v1.DmAccessService/CheckInbound");
      expect(methods.stdout).to.contain("pairgate.v1.DmPairingService/ApprovePairingCode");
      const healthProto = require.resolve("grpc-health-check/proto/health/v1/health.proto");
      const health = await run(buf, [
        ...base,
        "--schema",
        healthProto,
        "-d",
        '{"service":"pairgate.v1.DmPairingService"}',
        "http://pairgate/grpc.health.v1.Health/Check",
      ]);
      expect(JSON.parse(health.stdout)).to.deep.equal({ status: "SERVING" });
      const reply = await run(buf, [...base, "-d", '{"channel":"telegram","sender_id":"tg:77"}', "http://pairgate/pairgate.v1.DmAccessService/CheckInbound"]);
      expect(JSON.parse(reply.stdout)).to.include({ decision: "DECISION_PAIRING_REQUIRED", senderId: "77" });
    });
  });

  describe("with config", () => {
    it("does not revoke a config allowFrom entry and says to edit the config", async () => {
      t = await startTestDaemon({ config: { channels: { telegram: { allowFrom: ["100"] } } } });
      const allowed = await t.client.dmPairing.listAllowedSenders({ channel: "telegram" });
      expect(allowed.senders.map((s) => [s.senderId, s.source])).to.deep.equal([["100", SenderSource.SENDER_SOURCE_CONFIG]]);
      const err = await expectRejection(t.client.dmPairing.revokeAllowedSender({ channel: "telegram", senderId: "100" }), FailedPreconditionError);
      expect(err.message).to.contain("allowed by the config file (channels.telegram.allowFrom); remove it there");
    });

    it("expires pending requests with the fake clock and emits expired", async () => {
      const clock = new FakeClock();
      t = await startTestDaemon({ clock });
      const stream = t.client.dmPairing.watchPairingEvents({});
      const watch = collect<WatchPairingEventsResponse>(stream);
      await new Promise((r) => setTimeout(r, 50));
      const { pairingCode } = await t.client.dmAccess.checkInbound({ channel: "signal", senderId: "+15550002222" });
      clock.advance(3600_000);
      expect(await t.daemon.dm.sweepExpired()).to.equal(1);
      await until(() => watch.items.length === 2);
      expect(watch.items[1]).to.include({ type: PairingEventType.PAIRING_EVENT_TYPE_EXPIRED, code: pairingCode });
      await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "signal", code: pairingCode }), NotFoundError);
      stream.cancel();
    });
  });

  it("reports a missing daemon as DaemonNotRunningError with the start hint", async () => {
    const client = new PairgateClient({ socketPath: "/tmp/pairgate-does-not-exist.sock" });
    try {
      const err = await expectRejection(client.dmPairing.listChannels(), DaemonNotRunningError);
      expect(err.message).to.equal(
        "pairgate daemon is not running (no socket at /tmp/pairgate-does-not-exist.sock). Start it with: pairgate serve",
      );
    } finally {
      client.close();
    }
  });
});
