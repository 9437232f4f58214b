import { expect } from "chai";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/temp-dir";
import { CLI, pairgate, serve, type ServeProcess, stopServe } from "./cli";

/** Polls `check` every 50 ms until it returns a value (or fails after 10 s). */
async function until<T>(check: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function hasShell(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

describe("operator experience (built CLI and a real daemon)", function () {
  this.timeout(40_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  let env: Record<string, string>;
  let config: string;

  beforeEach(() => {
    dir = tempDir();
    env = { PAIRGATE_HOME: dir.path };
    config = join(dir.path, "config.json");
  });
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  const policyOf = async (channel: string): Promise<string | undefined> => {
    const res = await pairgate(["channels", "status", channel, "--json"], env);
    return (JSON.parse(res.stdout) as { channels: Array<{ policy: string }> }).channels[0]?.policy;
  };

  describe("init and config discovery", () => {
    it("creates the home (0700) and a commented config, refuses to overwrite it without --force, and serve discovers it", async () => {
      const home = join(dir.path, "home");
      const init = await pairgate(["--home", home, "init"], {});
      expect(init.code, init.stderr).to.equal(0);
      expect(init.stdout).to.contain(`Created ${home} (mode 0700)`).and.contain("Next steps:").and.contain("pairgate serve");
      expect(statSync(home).mode & 0o777).to.equal(0o700);
      const text = readFileSync(join(home, "config.json"), "utf8");
      expect(text).to.match(/^\/\/ pairgate config/).and.contain('"unpairedResponse": "branded"');

      const again = await pairgate(["--home", home, "init"], {});
      expect(again.code).to.equal(1);
      expect(again.stderr).to.contain(`${join(home, "config.json")} already exists`).and.contain("--force");
      writeFileSync(join(home, "config.json"), text.replace('"listen": "127.0.0.1:7421"', '"listen": "127.0.0.1:0"'));
      expect((await pairgate(["--home", home, "init"], {})).code).to.equal(1);
      expect(readFileSync(join(home, "config.json"), "utf8")).to.contain("127.0.0.1:0");
      expect((await pairgate(["--home", home, "init", "--force"], {})).code).to.equal(0);
      expect(readFileSync(join(home, "config.json"), "utf8")).to.equal(text);

      writeFileSync(join(home, "config.json"), text.replace('"listen": "127.0.0.1:7421"', '"listen": "127.0.0.1:0"'));
      daemon = await serve(home);
      expect(daemon.stderr()).to.contain(`config: ${join(home, "config.json")}`);
    });

    it("reads a JSONC config with comments and trailing commas from $PAIRGATE_HOME/config.json", async () => {
      writeFileSync(config, '// mine\n{\n  "nodes": { "listen": "127.0.0.1:0", },\n  "channels": { "telegram": { "dmPolicy": "allowlist", "allowFrom": ["1"], }, },\n}\n');
      daemon = await serve(dir.path);
      expect(await policyOf("telegram")).to.equal("allowlist");
    });

    it("refuses an invalid discovered config with the path, the key and what to do, and no stack trace", async () => {
      writeFileSync(config, '{ "dm": { "maxPending": 0 } }');
      daemon = await serve(dir.path);
      expect(await daemon.exited).to.equal(1);
      expect(daemon.stderr()).to.contain(`pairgate: invalid config ${config}:\n  dm.maxPending:`).and.contain(`Fix ${config}`);
      expect(daemon.stderr()).to.not.match(/\n\s+at /);
    });
  });

  describe("SIGHUP", () => {
    it("swaps in a valid config, keeps the old one when the new one is invalid, and never stops the daemon", async () => {
      writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0" } }));
      daemon = await serve(dir.path);
      expect(await policyOf("telegram")).to.equal("pairing");

      writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, dm: { maxPending: 7 }, channels: { telegram: { dmPolicy: "allowlist", allowFrom: ["5"] } } }));
      daemon.child.kill("SIGHUP");
      await until(async () => ((await policyOf("telegram")) === "allowlist" ? true : undefined), "the reloaded policy");
      const status = JSON.parse((await pairgate(["channels", "status", "telegram", "--json"], env)).stdout) as {
        channels: Array<{ pendingLimit: number; configAllowCount: number }>;
      };
      expect(status.channels[0]).to.include({ pendingLimit: 7, configAllowCount: 1 });
      await until(() => (daemon?.stderr().includes('"msg":"config reloaded"') ? true : undefined), "the reload log line");

      writeFileSync(config, '{ "channels": { "telegram": { "dmPolicy": "everyone" } } }');
      daemon.child.kill("SIGHUP");
      await until(() => (daemon?.stderr().includes("config reload failed") ? true : undefined), "the failed reload log line");
      expect(daemon.stderr()).to.contain("channels.telegram.dmPolicy");
      expect(await policyOf("telegram")).to.equal("allowlist");
      daemon.child.kill("SIGHUP");
      daemon.child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 200));
      expect(daemon.child.exitCode).to.equal(null);
      expect(await policyOf("telegram")).to.equal("allowlist");
    });
  });

  describe("logs", () => {
    it("takes the level from --log-level, then $PAIRGATE_LOG_LEVEL, then the config", async () => {
      writeFileSync(config, JSON.stringify({ logLevel: "error", nodes: { listen: "127.0.0.1:0" } }));
      const started = async (args: string[], extraEnv: Record<string, string>): Promise<boolean> => {
        const d = await serve(dir.path, args, extraEnv);
        d.child.kill("SIGTERM");
        await d.exited;
        return d.stderr().includes("pairgate daemon started");
      };
      expect(await started([], {})).to.equal(false);
      expect(await started([], { PAIRGATE_LOG_LEVEL: "info" })).to.equal(true);
      expect(await started(["--log-level", "info"], { PAIRGATE_LOG_LEVEL: "error" })).to.equal(true);
      expect(await started(["--log-level", "error"], { PAIRGATE_LOG_LEVEL: "info" })).to.equal(false);
    });

    it("writes text lines with --log-format text and names channel, account and sender in change lines, never the code", async () => {
      daemon = await serve(dir.path, ["--log-format", "text"]);
      const code = /Pairing code: (\w{8})/.exec((await pairgate(["inbound", "telegram", "4242"], env)).stdout)?.[1] ?? "";
      expect((await pairgate(["pairing", "approve", "telegram", code], env)).code).to.equal(0);
      const line = await until(() => daemon?.stderr().split("\n").find((l) => l.includes("approved")), "the approval log line");
      expect(line).to.match(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO /);
      expect(line).to.contain("channel=telegram").and.contain("account=default").and.contain("sender=4242");
      expect(daemon.stderr()).to.not.contain(code);
    });
  });

  describe("service", () => {
    it("prints a systemd user unit with absolute node and CLI paths and the home", async () => {
      const res = await pairgate(["--home", "/srv/pg home", "service", "install", "--print", "--platform", "linux"], {});
      expect(res.code).to.equal(0);
      expect(res.stdout).to.contain("[Service]").and.contain("WantedBy=default.target").and.contain("ExecReload=/bin/kill -HUP $MAINPID");
      expect(res.stdout).to.contain(`ExecStart="${process.execPath}" "${CLI}" serve`);
      expect(res.stdout).to.contain('Environment="PAIRGATE_HOME=/srv/pg home"');
    });

    it("prints a launchd agent with the same program and home", async () => {
      const res = await pairgate(["--home", "/Users/me/.pairgate", "service", "install", "--print", "--platform", "darwin"], {});
      expect(res.code).to.equal(0);
      expect(res.stdout).to.contain("<key>Label</key>\n  <string>dev.pairgate.daemon</string>");
      expect(res.stdout).to.contain(`<string>${process.execPath}</string>\n    <string>${CLI}</string>\n    <string>serve</string>`);
      expect(res.stdout).to.contain("<key>PAIRGATE_HOME</key>\n    <string>/Users/me/.pairgate</string>");
      expect(res.stdout).to.contain("<key>RunAtLoad</key>");
    });

    it("says clearly when systemctl is missing", async () => {
      const res = await pairgate(["service", "status", "--platform", "linux"], { PATH: "/nonexistent", XDG_CONFIG_HOME: dir.path });
      expect(res.code).to.equal(1);
      expect(res.stdout).to.contain("Not installed");
      expect(res.stderr).to.contain("systemctl was not found on PATH");
    });
  });

  describe("scriptable output", () => {
    it("lists the pending requests of every channel without a channel argument, as TSV and JSON", async () => {
      daemon = await serve(dir.path);
      expect((await pairgate(["pairing", "list"], env)).stdout).to.equal("No pending pairing requests.\n");
      await pairgate(["inbound", "telegram", "11"], env);
      await pairgate(["inbound", "slack", "U22", "--account", "work"], env);
      const tsv = (await pairgate(["pairing", "list"], env)).stdout.trimEnd().split("\n");
      expect(tsv[0]).to.equal("Channel\tAccount\tCode\tID\tMeta\tRequested");
      expect(tsv.slice(1).map((l) => l.split("\t").slice(0, 2).join("/") + "/" + (l.split("\t")[3] ?? "")).sort()).to.deep.equal([
        "slack/work/U22",
        "telegram/default/11",
      ]);
      const json = JSON.parse((await pairgate(["pairing", "list", "--json"], env)).stdout) as { requests: Array<Record<string, unknown>> };
      expect(json.requests).to.have.length(2);
      expect(Object.keys(json.requests[0] ?? {}).sort()).to.deep.equal(
        ["accountId", "channel", "code", "createdAtMs", "expiresAtMs", "lastSeenAtMs", "lookalikeWarning", "senderId", "senderMeta"].sort(),
      );
      expect(json.requests[0]?.senderMeta).to.deep.equal({});
      expect(typeof json.requests[0]?.createdAtMs).to.equal("number");
      const work = JSON.parse((await pairgate(["pairing", "list", "--account", "work", "--json"], env)).stdout) as { requests: unknown[] };
      expect(work.requests).to.have.length(1);
      const empty = JSON.parse((await pairgate(["pairing", "allowed", "signal", "--json"], env)).stdout) as Record<string, unknown>;
      expect(empty).to.deep.equal({ channel: "signal", accountId: "default", senders: [], nextPageToken: "" });
    });

    it("filters channels status by channel and --account, and refuses an unknown channel with exit 2", async () => {
      writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, channels: { slack: { accounts: { work: { dmPolicy: "disabled" } } } } }));
      daemon = await serve(dir.path);
      const rows = (await pairgate(["channels", "status", "--account", "work"], env)).stdout.trimEnd().split("\n");
      expect(rows[0]).to.match(/^Channel\tAccount\tPolicy\t/);
      expect(rows.slice(1).map((r) => r.split("\t").slice(0, 3).join(" "))).to.deep.equal(["slack work disabled"]);
      const unknown = await pairgate(["channels", "status", "myspace"], env);
      expect(unknown.code).to.equal(2);
      expect(unknown.stderr).to.contain('unknown channel "myspace"');
    });

    it("refuses destructive commands without --yes when stdin is not a terminal, changing nothing", async () => {
      daemon = await serve(dir.path);
      await pairgate(["pairing", "add", "telegram", "77"], env);
      const refused = await pairgate(["pairing", "revoke", "telegram", "77"], env);
      expect(refused.code).to.equal(2);
      expect(refused.stderr).to.contain("refusing without confirmation because stdin is not a terminal; pass --yes");
      const still = JSON.parse((await pairgate(["pairing", "allowed", "telegram", "--json"], env)).stdout) as { senders: unknown[] };
      expect(still.senders).to.have.length(1);
      expect((await pairgate(["pairing", "revoke", "telegram", "77", "--yes"], env)).code).to.equal(0);
    });

    it("prints the CLI version and whether the daemon is reachable", async () => {
      const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string };
      expect((await pairgate(["--version"], env)).stdout).to.equal(`${pkg.version}\n`);
      const down = await pairgate(["version"], env);
      expect(down.stdout).to.contain(`pairgate CLI ${pkg.version}`).and.contain("daemon: not reachable: pairgate daemon is not running");
      daemon = await serve(dir.path);
      const up = JSON.parse((await pairgate(["version", "--json"], env)).stdout) as { cli: string; daemon: { reachable: boolean } };
      expect(up).to.deep.include({ cli: pkg.version });
      expect(up.daemon.reachable).to.equal(true);
    });

    it("writes completion scripts that parse (bash -n; zsh and fish when installed)", async () => {
      for (const shell of ["bash", "zsh", "fish"] as const) {
        const res = await pairgate(["completion", shell], {});
        expect(res.code).to.equal(0);
        expect(res.stdout).to.contain("pairing").and.contain("approve").and.contain(shell === "fish" ? "-l json" : "--json");
        const file = join(dir.path, `completion.${shell}`);
        writeFileSync(file, res.stdout);
        if (shell === "bash" || hasShell(shell)) execFileSync(shell, ["-n", file]);
      }
      const bash = join(dir.path, "completion.bash");
      // Completing `pairgate pairing ap` offers approve.
      const offered = execFileSync("bash", ["-c", `source ${bash}; COMP_WORDS=(pairgate pairing ap); COMP_CWORD=2; _pairgate; echo "\${COMPREPLY[@]}"`], {
        encoding: "utf8",
      });
      expect(offered.trim()).to.equal("approve");
    });
  });
});
