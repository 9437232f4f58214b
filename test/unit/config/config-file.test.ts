import { expect } from "chai";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, discoverConfig, loadConfig, parseConfig, parseConfigText } from "../../../src/config/load";
import { configTemplate } from "../../../src/config/template";
import { DEFAULT_REPLY_TEMPLATE } from "../../../src/domain/reply-text";
import { tempDir } from "../../helpers/temp-dir";

/** The one ```jsonc block of the README's Configuration section, exactly as printed. */
function readmeExample(): string {
  const readme = readFileSync(join(__dirname, "..", "..", "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"));
  const match = /```jsonc\n([\s\S]*?)\n```/.exec(section);
  if (match?.[1] === undefined) throw new Error("README.md has no ```jsonc block in its Configuration section");
  return match[1];
}

describe("config files (JSONC, discovery, init template, README example)", () => {
  it("accepts comments and trailing commas", () => {
    const { config } = parseConfigText('// hi\n{ /* block */ "dm": { "maxPending": 5, }, "logLevel": "warn", }\n', "x.json");
    expect(config.dm.maxPending).to.equal(5);
    expect(config.logLevel).to.equal("warn");
  });

  it("names the file, line and column of a syntax error and says what to do", () => {
    expect(() => parseConfigText('{\n  "dm": { "maxPending": 5 }\n  "logLevel": "warn"\n}', "/etc/pg.json")).to.throw(
      ConfigError,
      /config file \/etc\/pg\.json is not valid JSON \(comments and trailing commas are fine\): line 3, column 3: CommaExpected\nFix \/etc\/pg\.json/,
    );
    expect(() => parseConfigText("[1, 2]", "a.json")).to.throw(ConfigError, /a\.json must hold one JSON object/);
  });

  it("names the file and key of an invalid value and points at the fix", () => {
    expect(() => parseConfigText('{ "dm": { "maxPending": 0 } }', "/h/config.json")).to.throw(
      ConfigError,
      /invalid config \/h\/config\.json:\n {2}dm\.maxPending: .*\nFix \/h\/config\.json/,
    );
  });

  it("says how to create a missing config file", () => {
    const dir = tempDir();
    try {
      expect(() => loadConfig(join(dir.path, "nope.json"))).to.throw(ConfigError, /nope\.json: ENOENT; create it with `pairgate init`/);
      expect(() => loadConfig(dir.path)).to.throw(ConfigError, /EISDIR; point --config at a file/);
    } finally {
      dir.cleanup();
    }
  });

  it("discovers <home>/config.json only when --config is not given and the file exists", () => {
    const dir = tempDir();
    try {
      expect(discoverConfig(dir.path, undefined)).to.equal(undefined);
      expect(discoverConfig(dir.path, "/x/explicit.json")).to.equal("/x/explicit.json");
      writeFileSync(join(dir.path, "config.json"), "{}");
      expect(discoverConfig(dir.path, undefined)).to.equal(join(dir.path, "config.json"));
      expect(discoverConfig(dir.path, "/x/explicit.json")).to.equal("/x/explicit.json");
      mkdirSync(join(dir.path, "sub"));
    } finally {
      dir.cleanup();
    }
  });

  it("writes an init template that loads to exactly the defaults", () => {
    const { config } = parseConfigText(configTemplate("/home/me/.pairgate"), "config.json");
    expect(config).to.deep.equal(parseConfig({}).config);
  });

  it("shows the built-in reply text in the init template's commented replyTemplate", () => {
    const line = configTemplate("/h").split("\n").find((l) => l.includes('"replyTemplate"')) ?? "";
    const value = JSON.parse(line.slice(line.indexOf(":") + 1).trim().replace(/,$/, "")) as string;
    expect(value).to.equal(DEFAULT_REPLY_TEMPLATE);
  });

  it("loads the README's complete example as printed", () => {
    const { config, policies } = parseConfigText(readmeExample(), "README.md");
    expect(config.dm).to.include({ pendingTtlMs: 3600_000, maxPending: 3, unpairedResponse: "branded" });
    expect(config.nodes).to.include({ listen: "127.0.0.1:7421", insecure: false, maxPending: 32 });
    expect(config.nodes.tls).to.equal(undefined);
    expect(policies.resolve("telegram", "support").policy).to.equal("allowlist");
    expect(policies.resolve("whatsapp", "default").policy).to.equal("open");
  });

  it("refuses a reply template with an unknown placeholder, naming the key", () => {
    expect(() => parseConfig({ dm: { replyTemplate: "code {Code} via {channel}" } })).to.throw(
      ConfigError,
      /dm\.replyTemplate: unknown placeholder\(s\) \{Code\}; use \{code\} \{channel\} \{idLine\} \{approveCommand\} \{product\}/,
    );
  });
});
