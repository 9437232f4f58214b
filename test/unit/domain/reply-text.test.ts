import { expect } from "chai";
import { DmPairing } from "../../../src/domain/dm-pairing";
import { DmPolicies } from "../../../src/domain/dm-policies";
import { silentLogger } from "../../../src/domain/logger";
import { DEFAULT_REPLY_TEMPLATE, pairingReplyText, unknownPlaceholders } from "../../../src/domain/reply-text";
import type { LevelSharedStore } from "../../../src/storage/level-shared-store";
import { FakeClock } from "../../helpers/fake-clock";
import { memorySharedStore } from "../../helpers/memory-store";

const facts = { product: "pairgate", channel: "telegram", channelLabel: "Telegram", accountId: "default", senderId: "42", code: "AB3D7X9K" };

describe("pairing reply text (dm.unpairedResponse, dm.replyTemplate)", () => {
  it("branded without a template is the reference text, unchanged", () => {
    expect(pairingReplyText("branded", undefined, facts)).to.equal(
      [
        "pairgate: access not configured.",
        "",
        "Telegram ID: 42",
        "",
        "Pairing code: AB3D7X9K",
        "",
        "Ask the bot owner to approve with:",
        "pairgate pairing approve telegram AB3D7X9K",
      ].join("\n"),
    );
  });

  it("fills every placeholder of a template, with --account for a non-default account", () => {
    const text = pairingReplyText("branded", "{product}|{channel}|{idLine}|{code}|{approveCommand}", { ...facts, accountId: "work" });
    expect(text).to.equal("pairgate|telegram|Telegram ID: 42|AB3D7X9K|pairgate pairing approve telegram AB3D7X9K --account work");
  });

  it("code-only sends just the code and ignores the template", () => {
    expect(pairingReplyText("code-only", "{product} says hi", facts)).to.equal("Pairing code: AB3D7X9K");
  });

  it("silent sends nothing", () => {
    expect(pairingReplyText("silent", undefined, facts)).to.equal("");
  });

  it("finds unknown placeholders and accepts the default template", () => {
    expect(unknownPlaceholders(DEFAULT_REPLY_TEMPLATE)).to.deep.equal([]);
    expect(unknownPlaceholders("{code} {Code} {sender} {}")).to.deep.equal(["Code", "sender"]);
  });

  describe("through the DM engine", () => {
    let store: LevelSharedStore;
    beforeEach(async () => (store = await memorySharedStore()));
    afterEach(async () => store.close());

    const engine = (extra: Partial<ConstructorParameters<typeof DmPairing>[0]>): DmPairing => {
      const clock = new FakeClock();
      return new DmPairing({ store, clock, logger: silentLogger, policies: new DmPolicies({}), startedAtMs: clock.now(), ...extra });
    };
    const inbound = (dm: DmPairing, senderId: string) =>
      dm.checkInbound({ channel: "telegram", accountId: "", senderId, senderMeta: {}, sentAtMs: 0 });

    it("silent still creates the request the owner approves, but returns no reply", async () => {
      const dm = engine({ unpairedResponse: "silent" });
      const v = await inbound(dm, "7");
      expect(v).to.include({ decision: "pairing-required", replyText: "" });
      expect(v.pairingCode).to.have.length(8);
      expect(v.reason).to.contain("silent");
      expect((await dm.listRequests("telegram", "", { pageSize: 10, pageToken: "" })).items.map((r) => r.code)).to.deep.equal([v.pairingCode]);
    });

    it("switches reply mode and template on reconfigure, for the next new request", async () => {
      const dm = engine({});
      expect((await inbound(dm, "1")).replyText).to.match(/^pairgate: access not configured\./);
      dm.reconfigure({
        policies: new DmPolicies({}),
        pendingTtlMs: 3600_000,
        maxPending: 3,
        historyGraceMs: 30_000,
        unpairedResponse: "branded",
        replyTemplate: "Hi! Code {code}",
      });
      const v = await inbound(dm, "2");
      expect(v.replyText).to.equal(`Hi! Code ${v.pairingCode}`);
    });
  });
});
