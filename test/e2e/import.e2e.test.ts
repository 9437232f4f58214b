import { expect } from "chai";
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IMPORT_CHANNELS } from "../../src/cli/import-sources";
import { SUPPORTED_CHANNELS } from "../../src/domain/channels";
import { tempDir } from "../helpers/temp-dir";
import { pairgate, serve, type ServeProcess, stopServe } from "./cli";

const FIXTURES = join(__dirname, "..", "fixtures", "import");

/** Copies a fixture state dir, replacing `@MINUTES_AGO:N@` with the ISO time N minutes ago. */
function fixture(name: string, into: string): string {
  const dir = join(into, name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else writeFileSync(p, readFileSync(p, "utf8").replace(/@MINUTES_AGO:(\d+)@/g, (_, n: string) => new Date(Date.now() - Number(n) * 60_000).toISOString()));
    }
  };
  walk(dir);
  return dir;
}

interface ImportJson {
  sendersImported: number;
  requestsImported: number;
  batches: number;
  dryRun: boolean;
  skipped: Array<{ kind: string; channel: string; accountId: string; entry: string; reason: string; file: string }>;
  configSuggestion: { channels: Record<string, { dmPolicy?: string; allowFrom?: string[]; accounts?: Record<string, unknown> }> };
  configChanged: boolean;
  pairedNodesFound: number;
  nodes: string;
}

describe("pairgate import clawdbot|openclaw and pairing add --from-file (built CLI, real daemon)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  let env: Record<string, string>;
  beforeEach(async () => {
    dir = tempDir();
    env = { PAIRGATE_HOME: dir.path };
    daemon = await serve(dir.path);
  });
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  const run = async (args: string[], extraEnv: Record<string, string> = {}): Promise<ImportJson> => {
    const r = await pairgate([...args, "--json"], { ...env, ...extraEnv });
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as ImportJson;
  };
  const allowed = async (channel: string, account = "default"): Promise<string[]> =>
    (JSON.parse((await pairgate(["pairing", "allowed", channel, "--account", account, "--all", "--json"], env)).stdout) as { senders: Array<{ senderId: string; source: string }> }).senders
      .filter((s) => s.source === "approved")
      .map((s) => s.senderId);
  const pending = async (): Promise<Array<{ channel: string; accountId: string; senderId: string; code: string }>> =>
    (JSON.parse((await pairgate(["pairing", "list", "--json"], env)).stdout) as { requests: Array<{ channel: string; accountId: string; senderId: string; code: string }> }).requests;

  it("knows the same channels as the daemon", () => {
    expect(IMPORT_CHANNELS).to.deep.equal([...SUPPORTED_CHANNELS]);
  });

  it("imports the Clawdbot layout once, with reasons for every skip; a second run changes nothing", async () => {
    const from = fixture("clawdbot", dir.path);
    const dry = await run(["import", "clawdbot", "--from", from, "--dry-run"]);
    expect([dry.dryRun, dry.sendersImported, dry.requestsImported]).to.deep.equal([true, 4, 1]);
    expect(await allowed("telegram")).to.deep.equal([]);

    const first = await run(["import", "clawdbot", "--from", from]);
    expect([first.sendersImported, first.requestsImported, first.batches]).to.deep.equal([4, 1, 1]);
    const reasons = first.skipped.map((s) => `${s.entry}: ${s.reason.split(" (")[0]}`);
    expect(reasons).to.include.members([
      "@alice@example.social: Channel mastodon does not support pairing",
      "444000222: expired",
      "signal-allowFrom.json: malformed file",
      '*: "*" in a store file is never imported',
      '{"id":"nope"}: malformed entry',
      "channels.irc: unknown channel",
    ]);
    expect(reasons.some((r) => r.includes("444000333") && r.includes("malformed request"))).to.equal(true);
    expect(await allowed("telegram")).to.deep.equal(["123456789", "555000111", "987654321"]);
    expect(await allowed("whatsapp")).to.deep.equal(["+15550001111"]);
    expect((await pending()).map((r) => [r.channel, r.accountId, r.senderId, r.code])).to.deep.equal([["telegram", "default", "444000111", "ABCDEFGH"]]);
    expect(first.configSuggestion.channels.discord).to.deep.equal({ dmPolicy: "open", allowFrom: ["*"] });
    expect(first.configSuggestion.channels.telegram).to.deep.equal({ dmPolicy: "pairing", allowFrom: ["111222333", "444555666"] });
    expect(first.nodes).to.contain("Nodes cannot be imported").and.contain("pairgate nodes approve");

    const audit = (JSON.parse((await pairgate(["audit", "--action", "import", "--json"], env)).stdout) as { records: Array<{ subjectId: string; detail: string }> }).records;
    expect(audit.map((r) => r.subjectId).sort()).to.deep.equal(["123456789", "444000111", "555000111", "987654321", "+15550001111"].sort());
    expect(JSON.stringify(audit)).to.not.contain("ABCDEFGH");

    const second = await run(["import", "clawdbot", "--from", from]);
    expect([second.sendersImported, second.requestsImported]).to.deep.equal([0, 0]);
    // Skips name the entry as the file wrote it (tg: prefix and all).
    expect(second.skipped.filter((s) => s.reason.startsWith("already")).map((s) => s.entry).sort()).to.deep.equal(["123456789", "444000111", "555000111", "tg:987654321", "+15550001111"].sort());
    expect((JSON.parse((await pairgate(["audit", "--action", "import", "--json"], env)).stdout) as { records: unknown[] }).records.length).to.equal(5);
    const text = await pairgate(["import", "clawdbot", "--from", from], env);
    expect(text.stdout).to.contain("Nothing new to import: everything is already there.");

    // The imported code works like any other.
    expect((await pairgate(["pairing", "approve", "telegram", "abcd-efgh"], env)).code).to.equal(0);
  });

  it("imports the OpenClaw layout from $OPENCLAW_STATE_DIR: scoped files per account, the legacy file into the default account, requests by meta.accountId", async () => {
    const from = fixture("openclaw", dir.path);
    const first = await run(["import", "openclaw"], { OPENCLAW_STATE_DIR: from });
    expect([first.sendersImported, first.requestsImported]).to.deep.equal([4, 2]);
    expect(await allowed("telegram")).to.deep.equal(["100000001", "100000002"]);
    expect(await allowed("telegram", "work")).to.deep.equal(["200000001"]);
    expect(await allowed("slack")).to.deep.equal(["U0123ABCD"]);
    expect((await pending()).map((r) => [r.accountId, r.senderId, r.code]).sort()).to.deep.equal([
      ["default", "300000002", "STUV6789"],
      ["work", "300000001", "WXYZ2345"],
    ]);
    const reasons = first.skipped.map((s) => `${s.entry}: ${s.reason}`);
    expect(reasons.some((r) => r.startsWith("discord-default-allowFrom.json: malformed file"))).to.equal(true);
    expect(reasons.some((r) => r.startsWith("*: "))).to.equal(true);
    expect(reasons.some((r) => r.includes("300000003") && r.includes("malformed request"))).to.equal(true);
    expect(first.pairedNodesFound).to.equal(1);
    expect(first.configSuggestion.channels.telegram).to.deep.equal({ dmPolicy: "pairing", accounts: { work: { dmPolicy: "allowlist", allowFrom: ["200000009"] } } });

    const again = await run(["import", "openclaw", "--from", from]);
    expect([again.sendersImported, again.requestsImported]).to.deep.equal([0, 0]);
  });

  it("--write-config merges dmPolicy/allowFrom into the pairgate config (comments kept, file still loads), once", async () => {
    const from = fixture("openclaw", dir.path);
    const config = join(dir.path, "config.json");
    writeFileSync(config, '// mine\n{\n  "nodes": { "listen": "127.0.0.1:0" },\n  "channels": { "slack": { "allowFrom": ["U0111AAAA"] } },\n}\n');
    const first = await run(["import", "openclaw", "--from", from, "--write-config"]);
    expect(first.configChanged).to.equal(true);
    const text = readFileSync(config, "utf8");
    expect(text).to.contain("// mine");
    expect(statSync(config).mode & 0o777).to.equal(0o600);
    const second = await run(["import", "openclaw", "--from", from, "--write-config"]);
    expect(second.configChanged).to.equal(false);
    expect(readFileSync(config, "utf8")).to.equal(text);
    // The daemon takes the merged file on reload.
    const pid = (JSON.parse((await pairgate(["status", "--json"], env)).stdout) as { pid: number }).pid;
    process.kill(pid, "SIGHUP");
    const deadline = Date.now() + 5000;
    let policy = "";
    while (policy !== "allowlist" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const ch = JSON.parse((await pairgate(["channels", "status", "telegram", "--account", "work", "--json"], env)).stdout) as { channels: Array<{ policy: string }> };
      policy = ch.channels[0]?.policy ?? "";
    }
    expect(policy).to.equal("allowlist");
    const slack = JSON.parse((await pairgate(["pairing", "allowed", "slack", "--json"], env)).stdout) as { senders: Array<{ senderId: string; source: string }> };
    expect(slack.senders.filter((s) => s.source === "config").map((s) => s.senderId)).to.deep.equal(["U0111AAAA", "U0999ZZZZ"]);
  });

  it("says where it looked when the state dir does not exist", async () => {
    const r = await pairgate(["import", "clawdbot", "--from", join(dir.path, "nope")], env);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`no clawdbot state dir at ${join(dir.path, "nope")}`);
  });

  it("pairing add --from-file adds every id of a list or JSON array in one write, skipping duplicates and \"*\"", async () => {
    const list = join(dir.path, "ids.txt");
    writeFileSync(list, "# telegram ids\n1001\n1002\n\n1002\n*\n");
    const r = await pairgate(["pairing", "add", "telegram", "--from-file", list, "--json"], env);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { added: number; skipped: Array<{ entry: string; reason: string }> };
    expect(out.added).to.equal(2);
    expect(out.skipped.map((s) => s.entry)).to.have.members(["1002", "*"]);
    const array = join(dir.path, "ids.json");
    writeFileSync(array, JSON.stringify(["1003", 1004, { bad: true }]));
    const text = await pairgate(["pairing", "add", "telegram", "--account", "work", "--from-file", array], env);
    expect(text.stdout).to.contain("✅ Allowed 2 telegram sender(s)").and.contain("in one atomic write");
    expect(await allowed("telegram")).to.deep.equal(["1001", "1002"]);
    expect(await allowed("telegram", "work")).to.deep.equal(["1003", "1004"]);
    const audit = (JSON.parse((await pairgate(["audit", "--action", "pairing.add", "--json"], env)).stdout) as { records: Array<{ subjectId: string; via: string }> }).records;
    expect(audit.map((a) => a.subjectId)).to.deep.equal(["1001", "1002", "1003", "1004"]);
    expect((await pairgate(["pairing", "add", "telegram", "--from-file", join(dir.path, "missing.txt")], env)).code).to.equal(2);
  });
});
