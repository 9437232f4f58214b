import { expect } from "chai";
import { ApproveMissCounter, defaultMissDelays } from "../../../src/domain/approve-misses";
import { asciiTrim, normalizeAccountId, normalizeSenderId, resolveChannel } from "../../../src/domain/channels";
import { InvalidArgumentError } from "../../../src/domain/errors";
import { lookalikeReason, lookalikeWarning } from "../../../src/domain/lookalike";
import { asciiLower, asciiUpper, normalizePairingCode } from "../../../src/domain/pairing-code";
import { FakeClock } from "../../helpers/fake-clock";

const norm = (channel: string, id: string): string => normalizeSenderId(resolveChannel(channel), id);

/** The exact characters of issue 9. */
const LONG_S = "\u017F"; // ſ, toUpperCase() = "S"
const FFI = "\uFB03"; // ﬃ, toUpperCase() = "FFI"
const KELVIN = "\u212A"; // K, toLowerCase() = "k"
const NBSP = "\u00A0";
const BOM = "\uFEFF";
const IDEOGRAPHIC_SPACE = "\u3000";
const ZWJ = "\u200D";
const FULLWIDTH_A = "\uFF21"; // Ａ
const CYRILLIC_A = "\u0410"; // А

function refused(fn: () => unknown, field: string): InvalidArgumentError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected InvalidArgumentError").to.be.instanceOf(InvalidArgumentError);
  expect((caught as InvalidArgumentError).field).to.equal(field);
  return caught as InvalidArgumentError;
}

describe("ASCII-only folding (issue 9)", () => {
  it("folds only ASCII letters, so no non-ASCII letter becomes an ASCII one", () => {
    expect(`U0ABC${LONG_S}`.toUpperCase()).to.equal("U0ABCS"); // what JavaScript would do
    expect(asciiUpper(`u0abc${LONG_S}`)).to.equal(`U0ABC${LONG_S}`);
    expect(asciiUpper(`u0${FFI}`)).to.equal(`U0${FFI}`);
    expect(asciiLower(`${KELVIN}ate@Example.com`)).to.equal(`${KELVIN}ate@example.com`);
    expect(asciiTrim(`${NBSP}123${IDEOGRAPHIC_SPACE}`)).to.equal(`${NBSP}123${IDEOGRAPHIC_SPACE}`);
  });

  it("refuses Slack ids that would fold onto an approved one (ſ, ﬃ, fullwidth, Cyrillic) naming sender_id", () => {
    expect(norm("slack", "u0abcs")).to.equal("U0ABCS");
    for (const id of [`U0ABC${LONG_S}`, `U0${FFI}`, `U0ABC${FULLWIDTH_A}`, `U0ABC${CYRILLIC_A}`, `U0A${ZWJ}BC`]) {
      refused(() => norm("slack", id), "sender_id");
    }
  });

  it("refuses e-mail handles with a Kelvin sign or any non-ASCII, and folds ASCII case only", () => {
    expect(norm("imessage", "Kate@Example.com")).to.equal("kate@example.com");
    refused(() => norm("imessage", `${KELVIN}ate@example.com`), "sender_id");
    refused(() => norm("bluebubbles", `k${LONG_S}@example.com`), "sender_id");
    refused(() => norm("imessage", "bob"), "sender_id");
  });

  it("takes only ASCII digits for Telegram and Discord, and only ASCII separators in phone numbers", () => {
    expect(norm("telegram", " tg:123 ")).to.equal("123");
    expect(norm("discord", "<@123>")).to.equal("123");
    for (const id of ["alice", "１２３", `123${NBSP}`, `${BOM}123`, `12${ZWJ}3`, `${IDEOGRAPHIC_SPACE}123`]) {
      refused(() => norm("telegram", id), "sender_id");
      refused(() => norm("discord", id), "sender_id");
    }
    expect(norm("whatsapp", "+1 (555) 000-1111")).to.equal("+15550001111");
    refused(() => norm("whatsapp", `+1${NBSP}555${NBSP}000${NBSP}1111`), "sender_id");
    refused(() => norm("whatsapp", "+１５５５０００１１１１"), "sender_id");
  });

  it("keeps opaque Teams and Google Chat ids verbatim and refuses non-ASCII ones", () => {
    expect(norm("msteams", "29:1AbC")).to.equal("29:1AbC");
    expect(norm("googlechat", "users/123")).to.equal("users/123");
    refused(() => norm("googlechat", `users/${KELVIN}`), "sender_id");
  });

  it("does not resolve channels or accounts through Unicode case mapping", () => {
    expect(resolveChannel(" SLACK ").id).to.equal("slack");
    refused(() => resolveChannel(`slac${KELVIN}`), "channel");
    refused(() => resolveChannel(`${LONG_S}lack`), "channel");
    expect(normalizeAccountId("Work")).to.equal("work");
    refused(() => normalizeAccountId(`wor${KELVIN}`), "account_id");
    refused(() => normalizeAccountId(`${NBSP}work`), "account_id");
  });
});

describe("pairing code normalisation (issue 9)", () => {
  it("strips only ASCII space, tab and hyphen and upper-cases ASCII only", () => {
    expect(normalizePairingCode(" ab3d-7x9k\t")).to.equal("AB3D7X9K");
    expect(normalizePairingCode("AB3D 7X9K")).to.equal("AB3D7X9K");
  });

  it("answers every Unicode trick with INVALID_ARGUMENT \"malformed code\" naming the code field", () => {
    const tricks = [
      `${BOM}AB3D7X9K`,
      `AB3D${NBSP}7X9K`,
      `AB3D${IDEOGRAPHIC_SPACE}7X9K`,
      `AB3D7X9K${ZWJ}`,
      `AB3D7X${LONG_S}9`, // ſ where an S is
      `AB3D7X9${KELVIN}`, // Kelvin sign where a K is
      `${FULLWIDTH_A}B3D7X9K`,
      `${CYRILLIC_A}B3D7X9K`,
      `AB3D7X${FFI}`,
      "AB3D7X90",
      "AB3D7X9",
      "",
    ];
    for (const code of tricks) {
      const err = refused(() => normalizePairingCode(code), "code");
      expect(err.message, JSON.stringify(code)).to.match(/^malformed code/);
    }
  });
});

describe("lookalike warnings (UTS #39 mixed script)", () => {
  it("flags Greek Alpha in Alice, all-Cyrillic lookalikes and compatibility forms, not plain text", () => {
    expect(lookalikeReason("sender_meta.username", "\u0391lice")).to.equal("sender_meta.username mixes Greek and Latin");
    expect(lookalikeReason("x", "\u0430\u0440\u0435")).to.match(/only in Cyrillic letters that look like Latin/);
    expect(lookalikeReason("x", "\uFF21lice")).to.match(/compatibility characters/);
    expect(lookalikeReason("x", `o${FFI}ce`)).to.match(/compatibility characters/);
    expect(lookalikeReason("x", "Alice")).to.equal(undefined);
    expect(lookalikeReason("x", "Ирина")).to.equal(undefined); // one script, not all lookalikes
    expect(lookalikeReason("x", "山田さん")).to.equal(undefined); // Han + Hiragana is Japanese
    expect(lookalikeReason("x", "José Müller")).to.equal(undefined);
  });

  it("joins the reasons of the sender id and every meta entry", () => {
    expect(lookalikeWarning("123", { username: "alice", name: "\u0391lice" })).to.equal("sender_meta.name mixes Greek and Latin");
    expect(lookalikeWarning("123", { username: "alice" })).to.equal("");
  });
});

describe("approve-miss counter", () => {
  it("lets 5 misses through, then delays 1 s doubling to 30 s, per (role, account), on the monotonic clock", () => {
    const clock = new FakeClock();
    const misses = new ApproveMissCounter(clock);
    const delays = Array.from({ length: 12 }, () => misses.record("owner", "telegram\u0000default").delayMs);
    expect(delays).to.deep.equal([0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(misses.record("adapter", "telegram\u0000default").delayMs).to.equal(0); // another role, another key
    expect(misses.record("owner", "slack\u0000default").delayMs).to.equal(0);
    expect(misses.counts("telegram\u0000default")).to.deep.equal({ recent: 13, total: 13 });
    clock.advance(15 * 60_000);
    expect(misses.counts("telegram\u0000default")).to.deep.equal({ recent: 0, total: 13 });
    expect(misses.record("owner", "telegram\u0000default").delayMs).to.equal(0);
    expect(defaultMissDelays(100)).to.equal(30_000);
  });

  it("logs at most once a minute per key", () => {
    const clock = new FakeClock();
    const misses = new ApproveMissCounter(clock, () => 1);
    const logged = Array.from({ length: 8 }, () => misses.record("owner", "k").log);
    expect(logged).to.deep.equal([false, false, false, false, false, true, false, false]);
    clock.advance(60_000);
    expect(misses.record("owner", "k").log).to.equal(true);
  });
});
