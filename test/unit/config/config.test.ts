import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig } from "../../../src/config/load";
import { tempDir } from "../../helpers/temp-dir";

describe("config", () => {
  it("gives the embedded default without a file: every channel on pairing", () => {
    const { config, policies, source } = loadConfig(undefined);
    expect(source).to.equal("(defaults)");
    expect(config.dm).to.deep.equal({
      pendingTtlMs: 3600_000,
      maxPending: 3,
      historyGraceMs: 30_000,
      sweepIntervalMs: 10_000,
      unpairedResponse: "branded",
      maxPendingTotal: 100,
      streamsPerConnection: 16,
    });
    expect(policies.resolve("whatsapp", "default").policy).to.equal("pairing");
  });

  it("rejects unknown keys naming the path", () => {
    expect(() => parseConfig({ channels: { telegram: { dmpolicy: "open" } } })).to.throw(ConfigError, /channels\.telegram: Unrecognized key/);
    expect(() => parseConfig({ chanels: {} })).to.throw(ConfigError, /\(root\): Unrecognized key/);
  });

  it("rejects an unknown channel and a bad policy value naming the path", () => {
    expect(() => parseConfig({ channels: { myspace: {} } })).to.throw(ConfigError, /channels: Unrecognized key: "myspace"/);
    expect(() => parseConfig({ channels: { slack: { dmPolicy: "everyone" } } })).to.throw(ConfigError, /channels\.slack\.dmPolicy/);
  });

  it("refuses open without \"*\" naming the allowFrom path", () => {
    expect(() => parseConfig({ channels: { telegram: { dmPolicy: "open" } } })).to.throw(
      ConfigError,
      /channels\.telegram\.allowFrom: dmPolicy "open" requires channels\.telegram\.allowFrom to include "\*"/,
    );
  });

  it("names the offending allowFrom entry", () => {
    expect(() => parseConfig({ channels: { whatsapp: { allowFrom: ["+15550001111", "bob"] } } })).to.throw(
      ConfigError,
      /channels\.whatsapp\.allowFrom\[1\]/,
    );
  });

  it("accepts numeric allowFrom entries and normalizes them", () => {
    const { policies } = parseConfig({ channels: { telegram: { allowFrom: [123, "tg:456"] } } });
    expect(policies.resolve("telegram", "default").allowFrom).to.deep.equal(["123", "456"]);
  });

  it("reports a missing file and invalid JSON clearly", () => {
    const dir = tempDir();
    try {
      expect(() => loadConfig(join(dir.path, "nope.json"))).to.throw(ConfigError, /cannot read config file/);
      const bad = join(dir.path, "bad.json");
      writeFileSync(bad, "{ nope");
      expect(() => loadConfig(bad)).to.throw(ConfigError, /is not valid JSON/);
    } finally {
      dir.cleanup();
    }
  });
});
