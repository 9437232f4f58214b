import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  CallerRole,
  Decision,
  InvalidArgumentError,
  NotFoundError,
  PairingEventType,
  type ServerStream,
  type WatchPairingEventsResponse,
} from "../../clients/ts";
import { DmAccessServiceService } from "../../src/gen/pairgate/v1/dm_access_service";
import { DmPairingServiceService } from "../../src/gen/pairgate/v1/dm_pairing_service";
import { expectRejection } from "../helpers/expect-error";
import { RawPeer } from "../helpers/raw-peer";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

/** Collects stream messages in the background. */
function collect<T>(stream: ServerStream<T>): { items: T[]; done: Promise<unknown> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const m of stream) items.push(m);
  })().catch((err: unknown) => err);
  return { items, done };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const INVALID_UTF8 = Uint8Array.of(0xff, 0x28, 0x41); // the "\uFFFD(A"

/** A message with string field `field` holding raw `bytes` and `channel` (field 1) unless field is 1. */
function withRawString(field: number, bytes: Uint8Array, channel = "telegram"): Uint8Array {
  const w = new BinaryWriter();
  if (field !== 1) w.tag(1, WireType.LengthDelimited).string(channel);
  w.tag(field, WireType.LengthDelimited).bytes(bytes);
  return w.finish();
}

describe("DM gate under hostile input (issue 9, real daemon): limiter, Unicode, decoding, bounds, lookalikes", () => {
  let t: TestDaemon;
  afterEach(async () => {
    await t?.stop();
  });

  describe("approve-miss limiter", () => {
    it("slows 50 misses after the fifth, emits approve_failed and counts them, while the owner's correct code approves at once", async () => {
      const consulted: number[] = [];
      t = await startTestDaemon({
        approveMissDelays: (excess) => {
          consulted.push(excess);
          return 1;
        },
      });
      const watch = collect<WatchPairingEventsResponse>(t.client.dmPairing.watchPairingEvents({ channel: "telegram" }));
      const v = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "4242" });
      await until(() => watch.items.length === 1);
      for (let i = 0; i < 50; i++) {
        const wrong = i % 10 === 9 ? "AB3D\u00A07X9K" : "ZZZZZZZZ"; // a malformed code counts too
        await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: wrong }).catch((e: unknown) => {
          expect(e).to.satisfy((x: unknown) => x instanceof NotFoundError || x instanceof InvalidArgumentError);
        });
      }
      expect(consulted).to.deep.equal(Array.from({ length: 45 }, (_, i) => i + 1));
      await until(() => watch.items.length === 46);
      const failed = watch.items.filter((e) => e.type === PairingEventType.PAIRING_EVENT_TYPE_APPROVE_FAILED);
      expect(failed.map((e) => e.failedAttempts)).to.deep.equal(Array.from({ length: 45 }, (_, i) => i + 6));
      expect(failed.every((e) => e.callerRole === CallerRole.CALLER_ROLE_OWNER && e.code === "" && e.senderId === "")).to.equal(true);
      const status1 = (await t.client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram" && c.accountId === "default")!;
      expect(status1.approveMissesRecent).to.equal(50);
      expect(Number(status1.approveMissesTotal)).to.equal(50);

      const approved = await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: v.pairingCode });
      expect(approved.sender?.senderId).to.equal("4242");
      expect(consulted).to.have.length(45); // the correct code never reached the delay
    });

    it("applies the real delay (1 s) to the sixth miss through the daemon, keeps the NOT_FOUND hint, and never delays a correct code", async () => {
      t = await startTestDaemon();
      const v = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "77" });
      for (let i = 0; i < 5; i++) {
        const err = await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "telegram", code: "ZZZZZZZZ" }), NotFoundError);
        expect(err.message).to.equal(
          "No pending pairing request found for code: ZZZZZZZZ (expired, already approved, or mistyped; see pairgate pairing list)",
        );
      }
      const startedAt = Date.now();
      await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "telegram", code: "ZZZZZZZZ" }), NotFoundError);
      expect(Date.now() - startedAt).to.be.at.least(950);
      const okAt = Date.now();
      await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: v.pairingCode });
      expect(Date.now() - okAt, "the correct code waits for no delay (the next miss would wait 2 s)").to.be.lessThan(1500);
    });
  });

  describe("Unicode tricks through the daemon", () => {
    it("never lets a folded Slack id, Kelvin-sign e-mail or padded Telegram id match an approved sender", async () => {
      t = await startTestDaemon();
      await t.client.dmPairing.addAllowedSender({ channel: "slack", senderId: "U0ABCS" });
      await t.client.dmPairing.addAllowedSender({ channel: "slack", senderId: "U0FFI" });
      await t.client.dmPairing.addAllowedSender({ channel: "imessage", senderId: "kate@example.com" });
      await t.client.dmPairing.addAllowedSender({ channel: "telegram", senderId: "123" });
      expect((await t.client.dmAccess.checkInbound({ channel: "slack", senderId: "u0abcs" })).decision).to.equal(Decision.DECISION_ALLOW);
      for (const [channel, senderId] of [
        ["slack", "U0ABC\u017F"],
        ["slack", "U0\uFB03"],
        ["imessage", "\u212Aate@example.com"],
        ["telegram", "\u00A0123"],
        ["telegram", "123\uFEFF"],
        ["telegram", "\uFF11\uFF12\uFF13"],
      ] as const) {
        const err = await expectRejection(t.client.dmAccess.checkInbound({ channel, senderId }), InvalidArgumentError);
        expect(err.field, senderId).to.equal("sender_id");
      }
      expect((await t.client.dmPairing.listPairingRequests({ channel: "slack" })).requests).to.have.length(0);
    });

    it("refuses a live code wrapped in U+FEFF, NBSP, U+3000 or with \u017F / the Kelvin sign as malformed, and the code stays pending", async () => {
      t = await startTestDaemon({ approveMissDelays: () => 1 });
      let v = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "1" });
      for (let i = 0; i < 20 && !/[SK]/.test(v.pairingCode); i++) {
        // Get a code holding an S or a K so the fold tricks have a target.
        await t.client.dmPairing.rejectPairingRequest({ channel: "telegram", code: v.pairingCode });
        v = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "1" });
      }
      const code = v.pairingCode;
      const tricks = [`\uFEFF${code}`, `${code.slice(0, 4)}\u00A0${code.slice(4)}`, `${code.slice(0, 4)}\u3000${code.slice(4)}`, `${code}\u200D`];
      if (code.includes("S")) tricks.push(code.replace("S", "\u017F"));
      if (code.includes("K")) tricks.push(code.replace("K", "\u212A"));
      for (const typed of tricks) {
        const err = await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "telegram", code: typed }), InvalidArgumentError);
        expect(err.message).to.match(/^malformed code/);
        expect(err.field).to.equal("code");
      }
      expect((await t.client.dmPairing.listPairingRequests({ channel: "telegram" })).requests.map((r) => r.code)).to.deep.equal([code]);
      const status1 = (await t.client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram")!;
      expect(status1.approveMissesRecent).to.equal(tricks.length);
      expect((await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: ` ${code.slice(0, 4).toLowerCase()}-${code.slice(4)}\t` })).sender?.senderId).to.equal("1");
    });
  });

  describe("strict decoding", () => {
    it("answers invalid UTF-8 and garbage on every DM RPC with INVALID_ARGUMENT and changes nothing", async () => {
      t = await startTestDaemon();
      await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "5" });
      const before = JSON.stringify(await t.client.dmPairing.listPairingRequests({ channel: "telegram" }));
      const peer = await RawPeer.connectUnix(t.daemon.socketPath);
      try {
        const methods = [...Object.values(DmAccessServiceService), ...Object.values(DmPairingServiceService)];
        for (const m of methods) {
          for (const [what, body] of [
            ["truncated", Uint8Array.of(0x0a, 0x10, 0x61, 0x62)],
            ["bad wire type", Uint8Array.of(0x0f, 0x01)],
          ] as const) {
            const r = await peer.start(m.path, body).done;
            expect(r.code, `${m.path} ${what}`).to.equal(status.INVALID_ARGUMENT);
          }
          if (m.path.endsWith("/ListChannels")) continue; // no string fields
          const r = await peer.start(m.path, withRawString(1, INVALID_UTF8)).done;
          expect(r.code, `${m.path} invalid UTF-8`).to.equal(status.INVALID_ARGUMENT);
          expect(r.details).to.match(/not valid UTF-8/);
        }
        // sender_id and a sender_meta value of CheckInbound.
        const sender = await peer.start(DmAccessServiceService.checkInbound.path, withRawString(3, INVALID_UTF8)).done;
        expect(sender).to.include({ code: status.INVALID_ARGUMENT });
        expect(sender.trailers["pairgate-field"]).to.equal("sender_id");
        const entry = new BinaryWriter();
        entry.tag(1, WireType.LengthDelimited).string("username");
        entry.tag(2, WireType.LengthDelimited).bytes(INVALID_UTF8);
        const w = new BinaryWriter();
        w.tag(1, WireType.LengthDelimited).string("telegram");
        w.tag(3, WireType.LengthDelimited).string("6");
        w.tag(4, WireType.LengthDelimited).bytes(entry.finish());
        const meta = await peer.start(DmAccessServiceService.checkInbound.path, w.finish()).done;
        expect(meta.code).to.equal(status.INVALID_ARGUMENT);
        expect(meta.trailers["pairgate-field"]).to.equal("sender_meta");
        // A real U+FFFD typed by someone is valid UTF-8 and is not refused by the decoder.
        const real = await peer.start(DmAccessServiceService.checkInbound.path, withRawString(3, new TextEncoder().encode("\uFFFD"))).done;
        expect(real.details).to.not.match(/UTF-8/);
      } finally {
        peer.close();
      }
      expect(JSON.stringify(await t.client.dmPairing.listPairingRequests({ channel: "telegram" }))).to.equal(before);
      // The node listener decodes the same way.
      const node = await RawPeer.connect(t.daemon.nodeAddress, "127.0.0.1");
      try {
        const r = await node.start("/pairgate.v1.NodePairingService/CreateChallenge", Uint8Array.of(0x0a, 0x10, 0x61)).done;
        expect(r.code).to.equal(status.INVALID_ARGUMENT);
      } finally {
        node.close();
      }
      const db = readdirSync(join(t.home, "db")).filter((f) => f.endsWith(".log"));
      for (const f of db) expect(readFileSync(join(t.home, "db", f)).includes(Buffer.from("\uFFFD"))).to.equal(false);
    });
  });

  describe("global bounds", () => {
    it("caps pending requests across accounts with dm.maxPendingTotal and the same queue-full reason", async () => {
      t = await startTestDaemon({ config: { dm: { maxPending: 3, maxPendingTotal: 2 } } });
      const a = await t.client.dmAccess.checkInbound({ channel: "telegram", accountId: "a", senderId: "1" });
      const b = await t.client.dmAccess.checkInbound({ channel: "slack", accountId: "b", senderId: "U1" });
      const c = await t.client.dmAccess.checkInbound({ channel: "discord", accountId: "c", senderId: "1" });
      expect([a.pairingCode, b.pairingCode].every((x) => x.length === 8)).to.equal(true);
      expect(c.pairingCode).to.equal("");
      expect(c.reason).to.match(/^pairing queue full \(2 pending in all channel accounts, dm.maxPendingTotal\)/);
      await t.client.dmPairing.rejectPairingRequest({ channel: "telegram", accountId: "a", code: a.pairingCode });
      expect((await t.client.dmAccess.checkInbound({ channel: "discord", accountId: "c", senderId: "1" })).pairingCode).to.have.length(8);
      // Full again (answered from the cached count the second time); an approval frees a slot at once.
      for (let i = 0; i < 2; i++) {
        expect((await t.client.dmAccess.checkInbound({ channel: "telegram", accountId: "a", senderId: "2" })).pairingCode).to.equal("");
      }
      await t.client.dmPairing.approvePairingCode({ channel: "slack", accountId: "b", code: b.pairingCode });
      expect((await t.client.dmAccess.checkInbound({ channel: "telegram", accountId: "a", senderId: "2" })).pairingCode).to.have.length(8);
    });

    it("caps SubscribeNotifications and WatchPairingEvents streams per connection", async () => {
      t = await startTestDaemon({ config: { dm: { streamsPerConnection: 2 } } });
      const watch = DmPairingServiceService.watchPairingEvents.path;
      const subscribe = DmAccessServiceService.subscribeNotifications.path;
      const sub = { finish: () => withRawString(1, new TextEncoder().encode("telegram")) };
      const a = await RawPeer.connectUnix(t.daemon.socketPath);
      const b = await RawPeer.connectUnix(t.daemon.adapterSocketPath);
      const c = await RawPeer.connectUnix(t.daemon.socketPath);
      try {
        const one = a.start(watch, new Uint8Array());
        const two = a.start(subscribe, sub.finish());
        await new Promise((r) => setTimeout(r, 100));
        const three = await a.start(watch, new Uint8Array()).done;
        expect(three.code).to.equal(status.RESOURCE_EXHAUSTED);
        expect(three.details).to.match(/too many open event streams on this connection \(limit 2/);
        // Unary calls on the same connection are not affected; other connections have their own cap.
        const others = [c.start(watch, new Uint8Array()), c.start(watch, new Uint8Array())];
        const adapterStreams = [b.start(subscribe, sub.finish()), b.start(subscribe, sub.finish())];
        await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "9" });
        await until(() => one.live.messages.length === 1 && others.every((o) => o.live.messages.length === 1));
        expect(adapterStreams.map((s) => `${s.live.code} ${s.live.details}`)).to.deep.equal(["-1 ", "-1 "]); // still open
        // Closing a stream frees its slot.
        one.stream.close();
        await one.done;
        await new Promise((r) => setTimeout(r, 100));
        const again = a.start(watch, new Uint8Array());
        await new Promise((r) => setTimeout(r, 100));
        expect(again.live.code).to.equal(-1);
        void two;
      } finally {
        a.close();
        b.close();
        c.close();
      }
    });
  });

  describe("lookalikes", () => {
    it("flags a Greek Alpha in the display name of a pending request for every client", async () => {
      t = await startTestDaemon();
      await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "1", senderMeta: { username: "alice" } });
      await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "2", senderMeta: { username: "\u0391lice" } });
      const list = await t.client.dmPairing.listPairingRequests({ channel: "telegram" });
      const bySender = new Map(list.requests.map((r) => [r.senderId, r.lookalikeWarning]));
      expect(bySender.get("1")).to.equal("");
      expect(bySender.get("2")).to.equal("sender_meta.username mixes Greek and Latin");
    });
  });
});
