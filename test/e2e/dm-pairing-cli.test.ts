import { expect } from "chai";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/temp-dir";
import { pairgate, serve, type ServeProcess, stopServe } from "./cli";

describe("pairgate CLI (built CLI as a subprocess against a real daemon)", function () {
  this.timeout(30_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = tempDir();
    env = { PAIRGATE_HOME: dir.path };
  });
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  it("walks through the README: inbound, list, approve (any case), inbound again", async () => {
    daemon = await serve(dir.path);
    const inbound = await pairgate(["inbound", "telegram", "123456789", "--meta", "username=alice"], env);
    expect(inbound.code).to.equal(0);
    const code = /Pairing code: ([A-Z2-9]{8})/.exec(inbound.stdout)?.[1] ?? "";
    expect(inbound.stdout).to.equal(
      [
        "pairgate: access not configured.",
        "",
        "Telegram ID: 123456789",
        "",
        `Pairing code: ${code}`,
        "",
        "Ask the bot owner to approve with:",
        `pairgate pairing approve telegram ${code}`,
        "",
      ].join("\n"),
    );

    const list = await pairgate(["pairing", "list", "telegram"], env);
    expect(list.code).to.equal(0);
    // Not a terminal: tab-separated columns with one header line, no heading, no box drawing.
    const [header, row, ...rest] = list.stdout.split("\n");
    expect(header).to.equal("Code\tID\tMeta\tRequested");
    expect(row?.split("\t").slice(0, 3)).to.deep.equal([code, "123456789", '{"username":"alice"}']);
    expect(rest).to.deep.equal([""]);

    const json = await pairgate(["pairing", "list", "--provider", "telegram", "--json"], env);
    const parsed = JSON.parse(json.stdout) as { channel: string; requests: Array<{ code: string; senderId: string }> };
    expect(parsed.channel).to.equal("telegram");
    expect(parsed.requests.map((r) => [r.code, r.senderId])).to.deep.equal([[code, "123456789"]]);

    const repeat = await pairgate(["inbound", "telegram", "123456789"], env);
    expect(repeat.stdout).to.contain("No reply sent").and.contain(`Pending pairing code: ${code}`);

    const approve = await pairgate(["pairing", "approve", "telegram", code.toLowerCase()], env);
    expect(approve).to.include({ code: 0, stdout: "✅ Approved telegram sender 123456789\n" });

    const allowed = await pairgate(["inbound", "telegram", "123456789"], env);
    expect(allowed.stdout).to.match(/^✅ Allowed: telegram sender 123456789/);
    const empty = await pairgate(["pairing", "list", "telegram"], env);
    expect(empty.stdout).to.equal("No pending telegram pairing requests.\n");
  });

  it("accepts --channel and --provider forms of approve and reports unknown codes with exit 1", async () => {
    daemon = await serve(dir.path);
    const a = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "slack", "U1"], env)).stdout)?.[1] ?? "";
    const b = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "slack", "U2"], env)).stdout)?.[1] ?? "";
    expect((await pairgate(["pairing", "approve", "--channel", "slack", a], env)).stdout).to.equal("✅ Approved slack sender U1\n");
    expect((await pairgate(["pairing", "approve", "--provider", "slack", b], env)).stdout).to.equal("✅ Approved slack sender U2\n");
    const again = await pairgate(["pairing", "approve", "slack", a], env);
    expect(again).to.include({ code: 1, stderr: `No pending pairing request found for code: ${a} (expired, already approved, or mistyped; see pairgate pairing list)\n` });
    const surplus = await pairgate(["pairing", "approve", "--channel", "slack", "slack", a], env);
    expect(surplus.code).to.equal(2);
    expect(surplus.stderr).to.contain("Too many arguments. Use: pairgate pairing approve --channel <channel> <code>");
    const missing = await pairgate(["pairing", "approve", "slack"], env);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain("Usage: pairgate pairing approve <channel> <code>");
  });

  it("prints the supported channels for an unknown channel and exits 2", async () => {
    daemon = await serve(dir.path);
    const res = await pairgate(["pairing", "list", "myspace"], env);
    expect(res.code).to.equal(2);
    expect(res.stderr).to.equal(
      "Channel myspace does not support pairing (supported: telegram, whatsapp, signal, imessage, discord, slack, msteams, googlechat, bluebubbles)\n",
    );
  });

  it("warns but succeeds when --notify finds no adapter connected", async () => {
    daemon = await serve(dir.path);
    const code = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "telegram", "5"], env)).stdout)?.[1] ?? "";
    const res = await pairgate(["pairing", "approve", "telegram", code, "--notify"], env);
    expect(res.code).to.equal(0);
    expect(res.stdout).to.equal("✅ Approved telegram sender 5\n");
    expect(res.stderr).to.match(/^Failed to notify requester: no channel adapter connected for telegram/);
  });

  it("lists allowed senders with their source, revokes them, and shows channel status", async () => {
    writeFileSync(join(dir.path, "config.json"), JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, channels: { telegram: { allowFrom: ["100"] } } }));
    daemon = await serve(dir.path, ["--config", join(dir.path, "config.json")]);
    expect((await pairgate(["pairing", "add", "telegram", "tg:200"], env)).stdout).to.equal("✅ Allowed telegram sender 200\n");
    const allowed = await pairgate(["pairing", "allowed", "telegram", "--json"], env);
    const senders = (JSON.parse(allowed.stdout) as { senders: Array<{ senderId: string; source: string }> }).senders;
    expect(senders.map((s) => `${s.senderId}:${s.source}`)).to.deep.equal(["100:config", "200:approved"]);
    const table = await pairgate(["pairing", "allowed", "telegram"], env);
    expect(table.stdout).to.match(/^ID\tSource\tApproved\tMeta\n100\tconfig\t/).and.contain("\n200\tapproved (added)\t");

    const configRevoke = await pairgate(["pairing", "revoke", "telegram", "100", "--yes"], env);
    expect(configRevoke.code).to.equal(1);
    expect(configRevoke.stderr).to.contain("allowed by the config file (channels.telegram.allowFrom)");
    expect((await pairgate(["pairing", "revoke", "telegram", "200", "--yes"], env)).stdout).to.equal("Revoked telegram sender 200\n");
    expect((await pairgate(["pairing", "revoke", "telegram", "200", "--yes"], env)).code).to.equal(1);

    const status = await pairgate(["channels", "status", "--json"], env);
    const telegram = (JSON.parse(status.stdout) as { channels: Array<Record<string, unknown>> }).channels.find(
      (c) => c.channel === "telegram",
    );
    // The --json convention: every field present, zero counts included, enums as short names.
    expect(telegram).to.deep.equal({
      channel: "telegram",
      accountId: "default",
      policy: "pairing",
      pendingCount: 0,
      allowedCount: 1,
      adaptersConnected: 0,
      pendingLimit: 3,
      queueFullDrops: 0,
      undeliveredNotifications: 0,
      configAllowCount: 1,
      approveMissesRecent: 0,
      approveMissesTotal: 0,
    });
    const human = await pairgate(["channels", "status"], env);
    expect(human.stdout.split("\n")).to.include("telegram\tdefault\tpairing\t0/3\t1\t0\t0\t0\t0");
  });

  it("says how to start the daemon when it is not running, with exit 1", async () => {
    const res = await pairgate(["pairing", "list", "telegram"], env);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.equal(
      `pairgate daemon is not running (no socket at ${join(dir.path, "pairgate.sock")}). Start it with: pairgate serve\n`,
    );
  });

  it("refuses a second daemon on the same state dir", async () => {
    daemon = await serve(dir.path);
    const second = await serve(dir.path);
    expect(await second.exited).to.equal(1);
    expect(second.stderr()).to.contain(`another pairgate daemon is using ${dir.path}`);
    expect((await pairgate(["channels", "status", "--json"], env)).code).to.equal(0);
  });

  it("refuses to start with dmPolicy open and no \"*\", naming the config path", async () => {
    const config = join(dir.path, "open.json");
    writeFileSync(config, JSON.stringify({ channels: { discord: { dmPolicy: "open" } } }));
    const res = await serve(dir.path, ["--config", config]);
    expect(await res.exited).to.equal(1);
    expect(res.stderr()).to.contain('channels.discord.allowFrom: dmPolicy "open" requires channels.discord.allowFrom to include "*"');
  });

  it("stops gracefully on SIGTERM and removes its socket", async () => {
    daemon = await serve(dir.path);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).to.equal(0);
    expect(existsSync(join(dir.path, "pairgate.sock"))).to.equal(false);
    expect(daemon.stderr()).to.contain('"msg":"pairgate daemon stopped"');
  });

  it("keeps an acknowledged approval when the daemon is killed with SIGKILL right after", async () => {
    daemon = await serve(dir.path);
    const code = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "telegram", "31"], env)).stdout)?.[1] ?? "";
    expect((await pairgate(["pairing", "approve", "telegram", code], env)).code).to.equal(0);
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    daemon = await serve(dir.path);
    expect((await pairgate(["inbound", "telegram", "31"], env)).stdout).to.match(/^✅ Allowed: telegram sender 31/);
    expect((await pairgate(["pairing", "approve", "telegram", code], env)).code).to.equal(1);
  });

  it("masks pairing codes in the daemon log", async () => {
    daemon = await serve(dir.path);
    const code = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "telegram", "9"], env)).stdout)?.[1] ?? "";
    await pairgate(["pairing", "approve", "telegram", code], env);
    await pairgate(["pairing", "approve", "telegram", code], env);
    expect(daemon.stderr()).to.contain(`${code.slice(0, 2)}******`);
    expect(daemon.stderr()).to.not.contain(code);
  });

  it("flags a mixed-script sender in pairing list (--json and the table) so the owner does not approve \u0391lice as Alice", async () => {
    daemon = await serve(dir.path);
    await pairgate(["inbound", "telegram", "1", "--meta", "username=Alice"], env);
    await pairgate(["inbound", "telegram", "2", "--meta", "username=\u0391lice"], env);
    const json = JSON.parse((await pairgate(["pairing", "list", "telegram", "--json"], env)).stdout) as {
      requests: Array<{ senderId: string; lookalikeWarning: string }>;
    };
    const warnings = Object.fromEntries(json.requests.map((r) => [r.senderId, r.lookalikeWarning]));
    expect(warnings).to.deep.equal({ "1": "", "2": "sender_meta.username mixes Greek and Latin" });
    const table = await pairgate(["pairing", "list", "telegram"], env);
    const [header, ...rows] = table.stdout.trim().split("\n");
    expect(header).to.equal("Code\tID\tMeta\tRequested\tLookalike");
    expect(rows.find((r) => r.split("\t")[1] === "2")).to.match(/\t⚠ sender_meta.username mixes Greek and Latin$/);
    expect(table.stderr).to.contain("1 pending request mixes scripts or use lookalike characters");
  });

  it("exits 2 on usage errors and 0 on --help", async () => {
    expect((await pairgate(["pairing", "nope"], env)).code).to.equal(2);
    expect((await pairgate(["inbound", "telegram"], env)).code).to.equal(2);
    const help = await pairgate(["pairing", "approve", "--help"], env);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain("--notify");
  });
});
