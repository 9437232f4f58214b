import { expect } from "chai";
import { normalizeAccountId, normalizeSenderId, resolveChannel } from "../../../src/domain/channels";
import { InvalidArgumentError } from "../../../src/domain/errors";
import { generatePairingCode, normalizePairingCode, PAIRING_CODE_ALPHABET } from "../../../src/domain/pairing-code";

const norm = (channel: string, id: string): string => normalizeSenderId(resolveChannel(channel), id);

describe("channels and sender ids", () => {
  it("resolves channel names case-insensitively", () => {
    expect(resolveChannel(" Telegram ").id).to.equal("telegram");
    expect(resolveChannel("WHATSAPP").id).to.equal("whatsapp");
  });

  it("rejects an unknown channel with the supported list", () => {
    expect(() => resolveChannel("irc")).to.throw(InvalidArgumentError, /^Channel irc does not support pairing \(supported: telegram, /);
    expect(() => resolveChannel("")).to.throw(InvalidArgumentError, /^Channel \(empty\) does not support pairing/);
  });

  it("strips telegram: and tg: prefixes", () => {
    expect(norm("telegram", "tg:123")).to.equal("123");
    expect(norm("telegram", "Telegram:123")).to.equal("123");
  });

  it("normalizes WhatsApp numbers to E.164", () => {
    expect(norm("whatsapp", "+1 (555) 000-1111")).to.equal("+15550001111");
    expect(norm("whatsapp", "0044 20 7946 0958")).to.equal("+442079460958");
    expect(norm("whatsapp", "whatsapp:15550001111@s.whatsapp.net")).to.equal("+15550001111");
    expect(() => norm("whatsapp", "alice")).to.throw(InvalidArgumentError, /E\.164/);
  });

  it("keeps Signal uuid senders as uuid:<lowercase> and phone numbers as E.164", () => {
    expect(norm("signal", "signal:UUID:0F8FAD5B-D9CB-469F-A165-70867728950E")).to.equal("uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
    expect(norm("signal", "0f8fad5b-d9cb-469f-a165-70867728950e")).to.equal("uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
    expect(norm("signal", "+15550001111")).to.equal("+15550001111");
  });

  it("normalizes Discord mentions and prefixes, Slack ids to upper case, iMessage e-mails to lower case", () => {
    expect(norm("discord", "<@!123456>")).to.equal("123456");
    expect(norm("discord", "user:123456")).to.equal("123456");
    expect(norm("slack", "slack:u012ab3cd")).to.equal("U012AB3CD");
    expect(norm("imessage", "imsg:Alice@Example.com")).to.equal("alice@example.com");
    expect(norm("imessage", "+1 555 000 1111")).to.equal("+15550001111");
  });

  it("normalizes account ids and rejects malformed ones", () => {
    expect(normalizeAccountId("")).to.equal("default");
    expect(normalizeAccountId(" Work ")).to.equal("work");
    expect(() => normalizeAccountId("a/b")).to.throw(InvalidArgumentError);
  });
});

describe("pairing codes", () => {
  it("draws every character uniformly from the 32-symbol alphabet", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) for (const c of generatePairingCode()) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect([...counts.keys()].sort().join("")).to.equal([...PAIRING_CODE_ALPHABET].sort().join(""));
    // 32,000 draws: expected 1000 per symbol; a biased generator would fall far outside this band.
    for (const n of counts.values()) expect(n).to.be.within(800, 1200);
  });

  it("normalizes case, spaces and hyphens but does not fold confusables", () => {
    expect(normalizePairingCode(" ab3d-7x9k ")).to.equal("AB3D7X9K");
    expect(normalizePairingCode("AB3D 7X9K")).to.equal("AB3D7X9K");
    expect(() => normalizePairingCode("AB3D7X90")).to.throw(InvalidArgumentError);
    expect(() => normalizePairingCode("АB3D7X9K")).to.throw(InvalidArgumentError); // Cyrillic А
    expect(() => normalizePairingCode("AB3D7X9")).to.throw(InvalidArgumentError);
  });
});
