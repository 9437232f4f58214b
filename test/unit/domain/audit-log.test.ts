import { expect } from "chai";
import { type AuditEntry, AuditLog } from "../../../src/domain/audit-log";
import { DmPairing, type ImportInput } from "../../../src/domain/dm-pairing";
import { DmPolicies } from "../../../src/domain/dm-policies";
import { InvalidArgumentError, NotFoundError, UnavailableError } from "../../../src/domain/errors";
import { silentLogger } from "../../../src/domain/logger";
import type { LevelSharedStore } from "../../../src/storage/level-shared-store";
import { expectRejection } from "../../helpers/expect-error";
import { FakeClock } from "../../helpers/fake-clock";
import { memorySharedStore } from "../../helpers/memory-store";
import { RecordingStore } from "../../helpers/recording-store";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe("audit trail (domain, fake clock, in-memory store)", () => {
  let store: LevelSharedStore;
  let clock: FakeClock;
  let audit: AuditLog;
  let dm: DmPairing;

  beforeEach(async () => {
    store = await memorySharedStore();
    clock = new FakeClock();
    audit = new AuditLog(store, clock);
    dm = new DmPairing({ store, clock, logger: silentLogger, policies: new DmPolicies(), startedAtMs: clock.now(), audit });
  });

  const all = async (): Promise<AuditEntry[]> => (await audit.list({ limit: 1000 })).records;
  const code = async (sender: string): Promise<string> =>
    (await dm.checkInbound({ channel: "telegram", accountId: "", senderId: sender, senderMeta: {}, sentAtMs: 0 })).pairingCode;

  it("records approve, reject, add, revoke, expire and a missed approve, in order, with channel, account, subject and role", async () => {
    const a = await code("100");
    await dm.approve("telegram", "", a, false);
    const b = await code("200");
    await dm.reject("telegram", "", b, "adapter");
    await dm.addAllowed("telegram", "work", "300");
    await dm.revokeAllowed("telegram", "work", "300");
    await expectRejection(dm.approve("telegram", "", "ZZZZZZZZ", false), NotFoundError);
    await code("400");
    clock.advance(2 * HOUR);
    await dm.sweepExpired();
    const records = await all();
    expect(records.map((r) => [r.action, r.channel, r.accountId, r.subjectId, r.role])).to.deep.equal([
      ["pairing.approve", "telegram", "default", "100", "owner"],
      ["pairing.reject", "telegram", "default", "200", "adapter"],
      ["pairing.add", "telegram", "work", "300", "owner"],
      ["pairing.revoke", "telegram", "work", "300", "owner"],
      ["pairing.approve_failed", "telegram", "default", "", "owner"],
      ["pairing.expire", "telegram", "default", "400", "daemon"],
    ]);
    expect(records[0]?.via).to.equal("pairing-code");
    const ids = records.map((r) => r.id);
    expect([...ids].sort()).to.deep.equal(ids);
  });

  it("never holds a pairing code, not even the code of a missed approve", async () => {
    const a = await code("100");
    await dm.approve("telegram", "", a, true);
    const b = await code("200");
    await dm.reject("telegram", "", b);
    await expectRejection(dm.approve("telegram", "", "QQQQRRRR", false), NotFoundError);
    const text = JSON.stringify(await all());
    for (const secret of [a, b, "QQQQRRRR"]) expect(text).to.not.contain(secret);
  });

  it("writes a grant and its record in one batch: a failed write leaves neither", async () => {
    const a = await code("100");
    const failing = new RecordingStore(store);
    failing.failNextDurable = true;
    const broken = new DmPairing({ store: failing, clock, logger: silentLogger, policies: new DmPolicies(), startedAtMs: clock.now(), audit });
    await expectRejection(broken.approve("telegram", "", a, false), UnavailableError);
    expect((await all()).filter((r) => r.action === "pairing.approve")).to.deep.equal([]);
    expect(await store.get("dmAllow", "telegram\u0000default\u0000100")).to.equal(undefined);
    await broken.approve("telegram", "", a, false);
    expect((await all()).map((r) => r.action)).to.include("pairing.approve");
    expect(await store.get("dmAllow", "telegram\u0000default\u0000100")).to.not.equal(undefined);
  });

  it("lists by time and action and pages after an id", async () => {
    await dm.addAllowed("telegram", "", "1");
    clock.advance(HOUR);
    const since = clock.now();
    await dm.addAllowed("telegram", "", "2");
    await dm.revokeAllowed("telegram", "", "2");
    expect((await audit.list({ sinceMs: since })).records.map((r) => r.subjectId)).to.deep.equal(["2", "2"]);
    expect((await audit.list({ actions: ["pairing.revoke"] })).records.map((r) => r.action)).to.deep.equal(["pairing.revoke"]);
    const first = await audit.list({ limit: 2 });
    expect(first.more).to.equal(true);
    const rest = await audit.list({ afterId: first.records[1]!.id });
    expect(rest.records.map((r) => r.action)).to.deep.equal(["pairing.revoke"]);
    expect(rest.more).to.equal(false);
    await expectRejection(audit.list({ actions: ["pairing.nope"] }), InvalidArgumentError);
    await expectRejection(audit.list({ afterId: "../x" }), InvalidArgumentError);
  });

  it("sweeps records past the age limit, then the oldest beyond the count limit", async () => {
    for (let i = 0; i < 5; i++) await dm.addAllowed("telegram", "", `100${i}`);
    clock.advance(10 * DAY);
    for (let i = 0; i < 8; i++) await dm.addAllowed("telegram", "", `200${i}`);
    expect(await audit.sweep(5 * DAY, 1000)).to.equal(5);
    expect((await all()).map((r) => r.subjectId)).to.deep.equal([...Array(8).keys()].map((i) => `200${i}`));
    expect(await audit.sweep(5 * DAY, 3)).to.equal(5);
    expect((await all()).map((r) => r.subjectId)).to.deep.equal(["2005", "2006", "2007"]);
    expect(await audit.sweep(5 * DAY, 3)).to.equal(0);
  });
});

describe("importing state (domain)", () => {
  let store: LevelSharedStore;
  let clock: FakeClock;
  let dm: DmPairing;

  beforeEach(async () => {
    store = await memorySharedStore();
    clock = new FakeClock();
    dm = new DmPairing({
      store,
      clock,
      logger: silentLogger,
      policies: new DmPolicies({ telegram: { allowFrom: ["9"] } }),
      startedAtMs: clock.now(),
    });
  });

  const input = (): ImportInput => ({
    source: "openclaw",
    dryRun: false,
    senders: [
      { channel: "telegram", accountId: "", senderId: "1" },
      { channel: "telegram", accountId: "work", senderId: "2" },
      { channel: "telegram", accountId: "", senderId: "*" },
      { channel: "mastodon", accountId: "", senderId: "3" },
      { channel: "telegram", accountId: "", senderId: "9" },
      { channel: "whatsapp", accountId: "", senderId: "+1 (555) 000-1111" },
    ],
    requests: [
      { channel: "telegram", accountId: "", senderId: "50", code: "ABCDEFGH", createdAtMs: clock.now() - 10 * 60_000, meta: { username: "al" } },
      { channel: "telegram", accountId: "", senderId: "51", code: "ABCDEFGJ", createdAtMs: clock.now() - 2 * HOUR, meta: {} },
      { channel: "telegram", accountId: "", senderId: "52", code: "bad!", createdAtMs: clock.now(), meta: {} },
    ],
  });

  it("imports in one synced write, skips with reasons, and a second run changes nothing", async () => {
    const first = await dm.importState(input());
    expect([first.sendersImported, first.requestsImported]).to.deep.equal([3, 1]);
    expect(first.skipped.map((s) => [s.senderId, s.reason.slice(0, 20)])).to.deep.equal([
      ["*", '"*" cannot be stored'],
      ["3", "Channel mastodon doe"],
      ["9", "already allowed by c"],
      ["51", "expired"],
      ["52", "malformed pairing co"],
    ]);
    const page = await dm.listRequests("telegram", "", { pageSize: 10, pageToken: "" });
    expect(page.items.map((r) => [r.senderId, r.code, r.meta.username])).to.deep.equal([["50", "ABCDEFGH", "al"]]);
    expect((await dm.listAllowed("whatsapp", "", { pageSize: 10, pageToken: "" })).items.map((s) => s.senderId)).to.deep.equal(["+15550001111"]);
    const records = (await dm.audit.list({})).records;
    expect(records.map((r) => r.action)).to.deep.equal(["import", "import", "import", "import"]);
    expect(JSON.stringify(records)).to.not.contain("ABCDEFGH");

    const second = await dm.importState(input());
    expect([second.sendersImported, second.requestsImported]).to.deep.equal([0, 0]);
    expect(second.skipped.filter((s) => s.reason.startsWith("already")).length).to.equal(5);
    expect((await dm.audit.list({})).records.length).to.equal(4);
    // The imported code works like any other.
    await dm.approve("telegram", "", "abcd-efgh", false);
  });

  it("writes nothing on a dry run", async () => {
    const summary = await dm.importState({ ...input(), dryRun: true });
    expect([summary.sendersImported, summary.requestsImported, summary.dryRun]).to.deep.equal([3, 1, true]);
    expect((await dm.listAllowed("telegram", "", { pageSize: 10, pageToken: "" })).items.map((s) => s.source)).to.deep.equal(["config"]);
    expect((await dm.audit.list({})).records).to.deep.equal([]);
  });

  it("skips a code already in use, requests beyond the pending limit, accounts not on pairing and hostile meta, with reasons", async () => {
    dm.reconfigure({
      policies: new DmPolicies({ telegram: { accounts: { closed: { dmPolicy: "allowlist" } } } }),
      pendingTtlMs: HOUR,
      maxPending: 3,
      historyGraceMs: 30_000,
      unpairedResponse: "branded",
      replyTemplate: undefined,
    });
    const live = await dm.checkInbound({ channel: "telegram", accountId: "", senderId: "70", senderMeta: {}, sentAtMs: 0 });
    const at = clock.now() - 60_000;
    const req = (senderId: string, code: string, accountId = "", meta: Record<string, string> = {}) => ({ channel: "telegram", accountId, senderId, code, createdAtMs: at, meta });
    const summary = await dm.importState({
      source: "openclaw",
      dryRun: false,
      senders: [],
      requests: [
        req("71", live.pairingCode),
        req("72", "ABCDEFG2"),
        req("73", "ABCDEFG3"),
        req("74", "ABCDEFG4"),
        req("75", "ABCDEFG5", "closed"),
        req("76", "ABCDEFG6", "other", { "bad\u0000key": "x" }),
      ],
    });
    expect(summary.requestsImported).to.equal(2);
    expect(summary.skipped.map((s) => [s.senderId, s.reason.slice(0, 24)])).to.deep.equal([
      ["71", "code in use"],
      ["74", "pending queue of telegra"],
      ["75", 'dmPolicy of telegram/clo'],
      ["76", "malformed meta: sender_m"],
    ]);
  });
});
