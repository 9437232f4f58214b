import { expect } from "chai";
import { DmPairing, type DmPairingOptions, type PairingEvent } from "../../../src/domain/dm-pairing";
import { DmPolicies, type ChannelPolicyInput } from "../../../src/domain/dm-policies";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from "../../../src/domain/errors";
import { silentLogger } from "../../../src/domain/logger";
import { PAIRING_CODE_ALPHABET } from "../../../src/domain/pairing-code";
import type { LevelSharedStore } from "../../../src/storage/level-shared-store";
import { expectRejection } from "../../helpers/expect-error";
import { FakeClock } from "../../helpers/fake-clock";
import { memorySharedStore } from "../../helpers/memory-store";
import { RecordingStore } from "../../helpers/recording-store";

const HOUR = 3600_000;

describe("DmPairing (domain, fake clock, in-memory store)", () => {
  let store: LevelSharedStore;
  let clock: FakeClock;
  let events: PairingEvent[];

  async function engine(channels: Record<string, ChannelPolicyInput> = {}, extra: Partial<DmPairingOptions> = {}): Promise<DmPairing> {
    const dm = new DmPairing({
      store,
      clock,
      logger: silentLogger,
      policies: new DmPolicies(channels),
      startedAtMs: clock.now(),
      ...extra,
    });
    dm.events.subscribe((e) => events.push(e));
    return dm;
  }

  const inbound = (dm: DmPairing, senderId: string, more: Partial<Parameters<DmPairing["checkInbound"]>[0]> = {}) =>
    dm.checkInbound({ channel: "telegram", accountId: "", senderId, senderMeta: {}, sentAtMs: 0, ...more });

  beforeEach(async () => {
    store = await memorySharedStore();
    clock = new FakeClock();
    events = [];
  });
  afterEach(async () => {
    await store.close();
  });

  describe("codes", () => {
    it("issues an 8-character code from the unambiguous alphabet with the reference reply text", async () => {
      const dm = await engine();
      const v = await inbound(dm, "tg:123456789", { senderMeta: { username: "alice" } });
      expect(v.decision).to.equal("pairing-required");
      expect(v.pairingCode).to.have.length(8);
      for (const c of v.pairingCode) expect(PAIRING_CODE_ALPHABET).to.include(c);
      expect(v.senderId).to.equal("123456789");
      expect(v.replyText).to.equal(
        [
          "pairgate: access not configured.",
          "",
          "Telegram ID: 123456789",
          "",
          `Pairing code: ${v.pairingCode}`,
          "",
          "Ask the bot owner to approve with:",
          `pairgate pairing approve telegram ${v.pairingCode}`,
        ].join("\n"),
      );
      expect(v.codeExpiresAtMs).to.equal(clock.now() + HOUR);
      expect(events.map((e) => e.type)).to.deep.equal(["requested"]);
    });

    it("names the account in the approve command of a non-default account", async () => {
      const dm = await engine();
      const v = await inbound(dm, "42", { accountId: "Work" });
      expect(v.accountId).to.equal("work");
      expect(v.replyText).to.match(/pairgate pairing approve telegram [A-Z2-9]{8} --account work$/);
    });

    it("never issues a code that is live in the same channel account (collisions are retried)", async () => {
      // A generator that yields AAAAAAAA twice, then BBBBBBBB.
      const draws = [..."AAAAAAAA", ..."AAAAAAAA", ..."BBBBBBBB"].map((c) => PAIRING_CODE_ALPHABET.indexOf(c));
      const dm = await engine({}, { randomInt: () => draws.shift() ?? 0 });
      const a = await inbound(dm, "1");
      const b = await inbound(dm, "2");
      expect(a.pairingCode).to.equal("AAAAAAAA");
      expect(b.pairingCode).to.equal("BBBBBBBB");
    });

    it("reuses the code for a repeat sender, updates last-seen and meta, and sends no second reply", async () => {
      const dm = await engine();
      const first = await inbound(dm, "7", { senderMeta: { username: "old" } });
      clock.advance(60_000);
      const again = await inbound(dm, "7", { senderMeta: { username: "new" } });
      expect(again.pairingCode).to.equal(first.pairingCode);
      expect(again.replyText).to.equal("");
      expect(again.decision).to.equal("pairing-required");
      const { items } = await dm.listRequests("telegram", "", { pageSize: 0, pageToken: "" });
      expect(items).to.have.length(1);
      expect(items[0]?.lastSeenAtMs).to.equal(clock.now());
      expect(items[0]?.createdAtMs).to.equal(clock.now() - 60_000);
      expect(items[0]?.meta).to.deep.equal({ username: "new" });
      expect(events.filter((e) => e.type === "requested")).to.have.length(1);
    });

    it("gives one code to concurrent first messages from the same sender", async () => {
      const dm = await engine();
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => inbound(dm, "99")));
      expect(new Set(results.map((r) => r.pairingCode)).size).to.equal(1);
      expect(results.filter((r) => r.replyText !== "")).to.have.length(1);
    });
  });

  describe("expiry", () => {
    it("expires a request one hour after creation even if the sender keeps writing, then issues a new code with a reply", async () => {
      const dm = await engine();
      const first = await inbound(dm, "5");
      clock.advance(HOUR - 1);
      expect((await inbound(dm, "5")).pairingCode).to.equal(first.pairingCode);
      clock.advance(1);
      const second = await inbound(dm, "5");
      expect(second.pairingCode).to.not.equal(first.pairingCode);
      expect(second.replyText).to.contain(second.pairingCode);
      expect(events.map((e) => e.type)).to.deep.equal(["requested", "expired", "requested"]);
    });

    it("refuses to approve an expired code with NotFound and emits expired", async () => {
      const dm = await engine();
      const v = await inbound(dm, "5");
      clock.advance(HOUR);
      const err = await expectRejection(dm.approve("telegram", "", v.pairingCode, false), NotFoundError);
      expect(err.message).to.equal(`No pending pairing request found for code: ${v.pairingCode} (expired, already approved, or mistyped; see pairgate pairing list)`);
      // The expired request is removed after the answer (so unknown and expired codes answer alike).
      for (let i = 0; i < 50 && events.length < 2; i++) await new Promise((r) => setImmediate(r));
      expect(events.map((e) => e.type)).to.deep.equal(["requested", "expired"]);
      expect(await inbound(dm, "5")).to.have.property("replyText").that.is.not.equal("");
    });

    it("sweeps expired requests and emits one expired event per request", async () => {
      const dm = await engine();
      await inbound(dm, "1");
      await inbound(dm, "2", { channel: "slack", senderId: "u1" });
      clock.advance(HOUR + 1);
      expect(await dm.sweepExpired()).to.equal(2);
      expect(await dm.sweepExpired()).to.equal(0);
      expect(events.filter((e) => e.type === "expired").map((e) => e.channel).sort()).to.deep.equal(["slack", "telegram"]);
      expect((await dm.listRequests("telegram", "", { pageSize: 0, pageToken: "" })).items).to.have.length(0);
    });

    it("honours a configured TTL", async () => {
      const dm = await engine({}, { pendingTtlMs: 5 * 60_000 });
      const v = await inbound(dm, "1");
      expect(v.codeExpiresAtMs - clock.now()).to.equal(5 * 60_000);
    });
  });

  describe("the cap of 3 pending requests", () => {
    it("turns away a fourth unknown sender with no code and a reason that says the queue is full", async () => {
      const dm = await engine();
      for (const id of ["1", "2", "3"]) expect((await inbound(dm, id)).pairingCode).to.have.length(8);
      const fourth = await inbound(dm, "4");
      expect(fourth.decision).to.equal("pairing-required");
      expect(fourth.pairingCode).to.equal("");
      expect(fourth.replyText).to.equal("");
      expect(fourth.reason).to.match(/queue full/);
      const status = (await dm.listChannels()).find((c) => c.channel === "telegram" && c.accountId === "default");
      expect(status?.queueFullDrops).to.equal(1);
      expect(status?.pendingCount).to.equal(3);
    });

    it("counts the cap per channel account, not per channel", async () => {
      const dm = await engine();
      for (const id of ["1", "2", "3"]) await inbound(dm, id);
      expect((await inbound(dm, "4", { accountId: "other" })).pairingCode).to.have.length(8);
      expect((await inbound(dm, "4", { channel: "discord" })).pairingCode).to.have.length(8);
    });

    it("frees a slot when a pending request is approved or rejected", async () => {
      const dm = await engine();
      const codes = [];
      for (const id of ["1", "2", "3"]) codes.push((await inbound(dm, id)).pairingCode);
      expect((await inbound(dm, "4")).pairingCode).to.equal("");
      await dm.approve("telegram", "", codes[0] ?? "", false);
      expect((await inbound(dm, "4")).pairingCode).to.have.length(8);
      expect((await inbound(dm, "5")).pairingCode).to.equal("");
      await dm.reject("telegram", "", codes[1] ?? "");
      expect((await inbound(dm, "5")).pairingCode).to.have.length(8);
      expect((await inbound(dm, "6")).pairingCode).to.equal("");
    });

    it("frees a slot when a request expires", async () => {
      const dm = await engine();
      for (const id of ["1", "2", "3"]) await inbound(dm, id);
      clock.advance(HOUR);
      expect((await inbound(dm, "4")).pairingCode).to.have.length(8);
    });
  });

  describe("approve", () => {
    it("answers unknown, expired and already used codes alike: same NOT_FOUND text, same reads, only the miss's audit write", async () => {
      const recording = new RecordingStore(store);
      const dm = await engine({}, { store: recording });
      const used = (await inbound(dm, "20")).pairingCode;
      await dm.approve("telegram", "", used, false);
      const expired = (await inbound(dm, "21")).pairingCode;
      clock.advance(HOUR);
      const unknown = "ZZZZZZZZ";
      const trace = recording.trace;
      const answers: Array<{ message: string; trace: string[] }> = [];
      for (const code of [unknown, expired, used]) {
        trace.length = 0;
        const err = await expectRejection(dm.approve("telegram", "", code, false), NotFoundError);
        answers.push({ message: err.message.replace(code, "X"), trace: [...trace] });
      }
      expect(answers[0]!.message).to.equal("No pending pairing request found for code: X (expired, already approved, or mistyped; see pairgate pairing list)");
      expect(answers[1]).to.deep.equal(answers[0]);
      expect(answers[2]).to.deep.equal(answers[0]);
      // Two reads, then the one audit record of the miss (no code in it): the same work in all three cases.
      expect(answers[0]!.trace).to.deep.equal(["get dmCodes", "get dmRequests", "write"]);
    });

    it("accepts the code in any case, with spaces and hyphens", async () => {
      const dm = await engine();
      const { pairingCode: code } = await inbound(dm, "10");
      const typed = ` ${code.slice(0, 4).toLowerCase()}-${code.slice(4, 6)} ${code.slice(6).toLowerCase()} `;
      const res = await dm.approve("TeleGram", "", typed, false);
      expect(res.sender).to.include({ senderId: "10", source: "approved", via: "pairing-code", channel: "telegram" });
      expect(res.notifyStatus).to.equal("not-requested");
      expect((await inbound(dm, "10")).decision).to.equal("allow");
      expect(events.map((e) => e.type)).to.deep.equal(["requested", "approved"]);
    });

    it("rejects a malformed code with InvalidArgument and changes nothing", async () => {
      const dm = await engine();
      await inbound(dm, "10");
      await expectRejection(dm.approve("telegram", "", "ABC0EFGH", false), InvalidArgumentError);
      await expectRejection(dm.approve("telegram", "", "", false), InvalidArgumentError);
      expect((await dm.listRequests("telegram", "", { pageSize: 0, pageToken: "" })).items).to.have.length(1);
    });

    it("does not approve a code of another channel account", async () => {
      const dm = await engine();
      const { pairingCode } = await inbound(dm, "10");
      await expectRejection(dm.approve("telegram", "work", pairingCode, false), NotFoundError);
      await expectRejection(dm.approve("slack", "", pairingCode, false), NotFoundError);
    });

    it("grants exactly once when the same code is approved twice concurrently", async () => {
      const dm = await engine();
      const { pairingCode } = await inbound(dm, "10");
      const results = await Promise.allSettled([1, 2, 3].map(() => dm.approve("telegram", "", pairingCode, false)));
      expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
      expect(results.filter((r) => r.status === "rejected" && r.reason instanceof NotFoundError)).to.have.length(2);
      expect(events.filter((e) => e.type === "approved")).to.have.length(1);
      const channels = await dm.listChannels();
      expect(channels.find((c) => c.channel === "telegram")?.allowedCount).to.equal(1);
    });

    it("leaves no half state when the approval batch fails: the request stays and nobody is allowed", async () => {
      const failing = new RecordingStore(store);
      const dm = new DmPairing({ store: failing, clock, logger: silentLogger, policies: new DmPolicies(), startedAtMs: clock.now() });
      const { pairingCode } = await inbound(dm, "10");
      failing.failNextDurable = true;
      await expectRejection(dm.approve("telegram", "", pairingCode, true), UnavailableError);
      expect((await inbound(dm, "10")).decision).to.equal("pairing-required");
      expect((await dm.listRequests("telegram", "", { pageSize: 0, pageToken: "" })).items.map((r) => r.code)).to.deep.equal([pairingCode]);
      expect((await dm.listAllowed("telegram", "", { pageSize: 0, pageToken: "" })).items).to.have.length(0);
      expect((await dm.listChannels()).find((c) => c.channel === "telegram")?.undeliveredNotifications).to.equal(0);
      // And the same code still works afterwards.
      await dm.approve("telegram", "", pairingCode, false);
      expect((await inbound(dm, "10")).decision).to.equal("allow");
    });

    it("writes grants with sync: true in one batch, with their audit record", async () => {
      const recording = new RecordingStore(store);
      const dm = new DmPairing({ store: recording, clock, logger: silentLogger, policies: new DmPolicies(), startedAtMs: clock.now() });
      const { pairingCode } = await inbound(dm, "10");
      recording.transactions.length = 0;
      await dm.approve("telegram", "", pairingCode, true);
      expect(recording.transactions).to.have.length(1);
      const [write] = recording.transactions;
      expect(write?.durable).to.equal(true);
      expect(write?.ops.map((o) => `${o.type}:${o.collection}`).sort()).to.deep.equal(
        ["del:dmCodes", "del:dmExpiry", "del:dmRequests", "put:audit", "put:dmAllow", "put:dmOutbox", "put:dmScopeStats"].sort(),
      );
    });
  });

  describe("reject", () => {
    it("removes the request without granting, and the next message gets a new code", async () => {
      const dm = await engine();
      const first = await inbound(dm, "10");
      const removed = await dm.reject("telegram", "", first.pairingCode);
      expect(removed.senderId).to.equal("10");
      await expectRejection(dm.approve("telegram", "", first.pairingCode, false), NotFoundError);
      const next = await inbound(dm, "10");
      expect(next.decision).to.equal("pairing-required");
      expect(next.pairingCode).to.not.equal(first.pairingCode);
      expect(events.map((e) => e.type)).to.deep.equal(["requested", "rejected", "requested"]);
    });

    it("reports NotFound for an unknown code", async () => {
      const dm = await engine();
      await expectRejection(dm.reject("telegram", "", "ABCDEFGH"), NotFoundError);
    });
  });

  describe("allowlist", () => {
    it("lists config entries first, then approved senders, across pages", async () => {
      const dm = await engine({ telegram: { allowFrom: ["tg:300", "100"] } });
      for (const id of ["2", "1", "3"]) await dm.addAllowed("telegram", "", id);
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await dm.listAllowed("telegram", "", { pageSize: 2, pageToken });
        seen.push(...page.items.map((s) => `${s.source}:${s.senderId}`));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "");
      expect(seen).to.deep.equal(["config:300", "config:100", "approved:1", "approved:2", "approved:3"]);
      expect(pages).to.equal(3);
    });

    it("rejects a tampered page token with InvalidArgument", async () => {
      const dm = await engine();
      await expectRejection(dm.listAllowed("telegram", "", { pageSize: 2, pageToken: "not-a-token" }), InvalidArgumentError);
    });

    it("revokes an approved sender, who then needs pairing again", async () => {
      const dm = await engine();
      const { pairingCode } = await inbound(dm, "10");
      await dm.approve("telegram", "", pairingCode, false);
      const revoked = await dm.revokeAllowed("telegram", "", "telegram:10");
      expect(revoked.senderId).to.equal("10");
      expect((await inbound(dm, "10")).decision).to.equal("pairing-required");
      expect(events.map((e) => e.type)).to.deep.equal(["requested", "approved", "revoked", "requested"]);
      expect((await dm.listChannels()).find((c) => c.channel === "telegram")?.allowedCount).to.equal(0);
    });

    it("refuses to revoke a config entry and says to edit the config", async () => {
      const dm = await engine({ telegram: { allowFrom: ["100"] } });
      const err = await expectRejection(dm.revokeAllowed("telegram", "", "100"), FailedPreconditionError);
      expect(err.message).to.match(/channels\.telegram\.allowFrom/);
      await expectRejection(dm.revokeAllowed("telegram", "", "200"), NotFoundError);
    });

    it("never stores a wildcard", async () => {
      const dm = await engine();
      await expectRejection(dm.addAllowed("telegram", "", "*"), InvalidArgumentError);
    });

    it("keeps approvals of one account out of another", async () => {
      const dm = await engine();
      await dm.addAllowed("telegram", "bot-a", "10");
      expect((await inbound(dm, "10", { accountId: "bot-a" })).decision).to.equal("allow");
      expect((await inbound(dm, "10", { accountId: "bot-b" })).decision).to.equal("pairing-required");
    });
  });

  describe("policies", () => {
    it("pairing: config allowFrom senders are allowed without a code", async () => {
      const dm = await engine({ telegram: { dmPolicy: "pairing", allowFrom: ["100"] } });
      expect((await inbound(dm, "tg:100")).decision).to.equal("allow");
    });

    it("allowlist: unknown senders are denied without a code, config and approved senders are allowed", async () => {
      const dm = await engine({ telegram: { dmPolicy: "allowlist", allowFrom: ["100"] } });
      const unknown = await inbound(dm, "200");
      expect(unknown).to.include({ decision: "deny", pairingCode: "", replyText: "" });
      expect((await inbound(dm, "100")).decision).to.equal("allow");
      await dm.addAllowed("telegram", "", "300");
      expect((await inbound(dm, "300")).decision).to.equal("allow");
      expect(events.filter((e) => e.type === "requested")).to.have.length(0);
    });

    it("open: everyone is allowed", async () => {
      const dm = await engine({ telegram: { dmPolicy: "open", allowFrom: ["*"] } });
      expect((await inbound(dm, "4711")).decision).to.equal("allow");
    });

    it("disabled: every message is denied, even from allowed senders", async () => {
      const dm = await engine({ telegram: { dmPolicy: "disabled", allowFrom: ["100"] } });
      expect((await inbound(dm, "100")).decision).to.equal("deny");
    });

    it("per-account policy overrides the channel's", async () => {
      const dm = await engine({ telegram: { dmPolicy: "allowlist", accounts: { support: { dmPolicy: "pairing" } } } });
      expect((await inbound(dm, "1")).decision).to.equal("deny");
      expect((await inbound(dm, "1", { accountId: "support" })).decision).to.equal("pairing-required");
    });

    it("open without \"*\" is a config error naming the path", () => {
      expect(() => new DmPolicies({ telegram: { dmPolicy: "open", allowFrom: ["1"] } }))
        .to.throw(InvalidArgumentError, 'dmPolicy "open" requires channels.telegram.allowFrom to include "*"')
        .with.property("field", "channels.telegram.allowFrom");
    });

    it("\"*\" under a policy other than open is a config error", () => {
      expect(() => new DmPolicies({ telegram: { allowFrom: ["*"] } })).to.throw(InvalidArgumentError, /only allowed with dmPolicy "open"/);
    });
  });

  describe("history sync", () => {
    it("does not reply to or create requests for messages sent more than 30 s before start", async () => {
      const dm = await engine();
      const old = await inbound(dm, "1", { sentAtMs: clock.now() - 30_001 });
      expect(old).to.include({ decision: "pairing-required", replyText: "", pairingCode: "" });
      expect(events).to.have.length(0);
      const recent = await inbound(dm, "1", { sentAtMs: clock.now() - 29_000 });
      expect(recent.replyText).to.contain("Pairing code:");
    });
  });

  describe("input validation", () => {
    it("rejects an unknown channel naming the supported ones", async () => {
      const dm = await engine();
      const err = await expectRejection(inbound(dm, "1", { channel: "myspace" }), InvalidArgumentError);
      expect(err.message).to.equal(
        "Channel myspace does not support pairing (supported: telegram, whatsapp, signal, imessage, discord, slack, msteams, googlechat, bluebubbles)",
      );
      expect(err.field).to.equal("channel");
    });

    it("rejects sender ids with control or bidi characters, and over-long ones", async () => {
      const dm = await engine();
      await expectRejection(inbound(dm, "12\u0000"), InvalidArgumentError);
      await expectRejection(inbound(dm, "ab\u202Ecd"), InvalidArgumentError);
      await expectRejection(inbound(dm, "x".repeat(257)), InvalidArgumentError);
      await expectRejection(inbound(dm, "   "), InvalidArgumentError);
      expect(events).to.have.length(0);
    });

    it("rejects oversized or hostile sender meta", async () => {
      const dm = await engine();
      const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
      await expectRejection(inbound(dm, "1", { senderMeta: many }), InvalidArgumentError);
      await expectRejection(inbound(dm, "1", { senderMeta: { name: "a\u202Eb" } }), InvalidArgumentError);
    });
  });

  describe("notifications", () => {
    it("delivers the backlog to a new feed, then live notifications, and forgets acknowledged ones", async () => {
      const dm = await engine();
      const a = await inbound(dm, "1");
      const approvedA = await dm.approve("telegram", "", a.pairingCode, true);
      expect(approvedA.notifyStatus).to.equal("no-adapter");
      const got: string[] = [];
      const close = await dm.openNotificationFeed("telegram", "", (n) => got.push(`${n.senderId}:${n.text}`));
      expect(got).to.deep.equal(["1:✅ pairgate access approved. Send a message to start chatting."]);
      const b = await inbound(dm, "2");
      const approvedB = await dm.approve("telegram", "", b.pairingCode, true);
      expect(approvedB.notifyStatus).to.equal("queued");
      expect(got).to.have.length(2);
      close();
      await dm.ackNotification(approvedA.notificationId);
      const again: string[] = [];
      const close2 = await dm.openNotificationFeed("telegram", "", (n) => again.push(n.senderId));
      expect(again).to.deep.equal(["2"]);
      close2();
    });

    it("rejects a malformed notification id", async () => {
      const dm = await engine();
      await expectRejection(dm.ackNotification("bogus"), InvalidArgumentError);
    });
  });
});

/** A Store that records writes and can fail the next synced one (a failed fsync'd batch). */
