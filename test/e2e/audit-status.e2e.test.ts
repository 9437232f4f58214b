import { expect } from "chai";
import { spawn } from "node:child_process";
import { PairgateClient } from "../../clients/ts";
import { tempDir } from "../helpers/temp-dir";
import { CLI, pairgate, serve, type ServeProcess, stopServe } from "./cli";

describe("audit trail and status (built CLI and daemon as subprocesses)", function () {
  this.timeout(60_000);
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

  const codeOf = (stdout: string): string => /Pairing code: (\w{8})/.exec(stdout)?.[1] ?? "";

  it("a SIGKILL right after acknowledged approvals and adds leaves each grant with its audit record, or neither", async () => {
    daemon = await serve(dir.path);
    let client = new PairgateClient({ socketPath: `${dir.path}/pairgate.sock` });
    const accounts = Array.from({ length: 8 }, (_, i) => `acct${i}`);
    const pending: Array<{ accountId: string; senderId: string; code: string }> = [];
    for (const accountId of accounts) {
      for (let i = 0; i < 3; i++) {
        const senderId = `${accountId.slice(4)}00${i}`;
        const v = await client.dmAccess.checkInbound({ channel: "telegram", accountId, senderId, sentAtMs: Date.now() });
        pending.push({ accountId, senderId, code: v.pairingCode });
      }
    }
    const acked = new Set<string>();
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      daemon?.child.kill("SIGKILL");
    };
    const calls = [
      ...pending.map(async (p) => {
        await client.dmPairing.approvePairingCode({ channel: "telegram", accountId: p.accountId, code: p.code });
        acked.add(`${p.accountId}/${p.senderId}`);
        if (acked.size >= 3) kill();
      }),
      ...accounts.map(async (accountId) => {
        await client.dmPairing.addAllowedSender({ channel: "telegram", accountId, senderId: "4242" });
        acked.add(`${accountId}/4242`);
      }),
    ];
    await Promise.allSettled(calls);
    kill();
    await daemon.exited;
    client.close();
    expect(acked.size, "some calls were acknowledged before the kill").to.be.greaterThan(2);

    daemon = await serve(dir.path);
    client = new PairgateClient({ socketPath: `${dir.path}/pairgate.sock` });
    try {
      const audit = (await client.admin.listAuditRecords({ pageSize: 1000 })).records;
      const audited = new Set(audit.filter((r) => r.action === "pairing.approve" || r.action === "pairing.add").map((r) => `${r.accountId}/${r.subjectId}`));
      const granted = new Set<string>();
      for (const accountId of accounts) {
        const page = await client.dmPairing.listAllowedSenders({ channel: "telegram", accountId, pageSize: 100 });
        for (const s of page.senders) granted.add(`${accountId}/${s.senderId}`);
      }
      expect([...granted].sort(), "every grant has its audit record and every record its grant").to.deep.equal([...audited].sort());
      for (const a of acked) expect(granted.has(a), `acknowledged ${a} survived`).to.equal(true);
    } finally {
      client.close();
    }
  });

  it("pairgate audit lists approve, failed approve, reject, add and revoke, filters by action and --since, and never prints a code", async () => {
    daemon = await serve(dir.path);
    const a = codeOf((await pairgate(["inbound", "telegram", "100"], env)).stdout);
    const b = codeOf((await pairgate(["inbound", "telegram", "200"], env)).stdout);
    expect((await pairgate(["pairing", "approve", "telegram", a], env)).code).to.equal(0);
    expect((await pairgate(["pairing", "approve", "telegram", "QQQQRRRR"], env)).code).to.equal(1);
    expect((await pairgate(["pairing", "reject", "telegram", b, "--yes"], env)).code).to.equal(0);
    expect((await pairgate(["pairing", "add", "telegram", "300", "--account", "work"], env)).code).to.equal(0);
    expect((await pairgate(["pairing", "revoke", "telegram", "300", "--account", "work", "--yes"], env)).code).to.equal(0);

    const json = await pairgate(["audit", "--json"], env);
    expect(json.code, json.stderr).to.equal(0);
    const rs = (JSON.parse(json.stdout) as { records: Array<Record<string, unknown>> }).records;
    expect(rs.map((r) => [r.action, r.accountId, r.subjectId, r.role])).to.deep.equal([
      ["pairing.approve", "default", "100", "owner"],
      ["pairing.approve_failed", "default", "", "owner"],
      ["pairing.reject", "default", "200", "owner"],
      ["pairing.add", "work", "300", "owner"],
      ["pairing.revoke", "work", "300", "owner"],
    ]);
    expect(Object.keys(rs[0] ?? {}).sort()).to.deep.equal(["accountId", "action", "atMs", "channel", "detail", "id", "requestId", "role", "subjectId", "via"]);
    expect(typeof rs[0]?.atMs).to.equal("number");
    for (const out of [json.stdout, (await pairgate(["audit"], env)).stdout]) {
      for (const code of [a, b, "QQQQRRRR"]) expect(out).to.not.contain(code);
    }
    const table = await pairgate(["audit", "--action", "pairing.add,pairing.revoke"], env);
    expect(table.stdout.split("\n")[0]).to.equal("Time\tAction\tRole\tChannel\tSubject\tVia\tDetail");
    expect(table.stdout.trim().split("\n").slice(1).map((l) => l.split("\t")[1])).to.deep.equal(["pairing.add", "pairing.revoke"]);
    expect((await pairgate(["audit", "--since", "2099-01-01T00:00:00Z"], env)).stdout).to.contain("No audit records since 2099-01-01T00:00:00Z");
    expect((await pairgate(["audit", "--since", "yesterday"], env)).code).to.equal(2);
    expect((await pairgate(["audit", "--action", "pairing.nope"], env)).code).to.equal(2);
  });

  it("pairgate audit --follow prints new records as they are written", async () => {
    daemon = await serve(dir.path);
    const follow = spawn(process.execPath, [CLI, "audit", "--follow", "--json"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    follow.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 800));
      await pairgate(["pairing", "add", "telegram", "777"], env);
      const deadline = Date.now() + 8000;
      while (!out.includes('"777"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const line = out.trim().split("\n").find((l) => l.includes('"777"')) ?? "{}";
      expect((JSON.parse(line) as { action?: string }).action).to.equal("pairing.add");
    } finally {
      follow.kill("SIGTERM");
    }
  });

  it("pairgate status shows the running daemon (text and --json) and says when it is not running", async () => {
    const down = await pairgate(["status"], env);
    expect(down.code).to.equal(1);
    expect(down.stderr).to.contain("pairgate daemon is not running");
    const downJson = await pairgate(["status", "--json"], env);
    expect(downJson.code).to.equal(1);
    expect((JSON.parse(downJson.stdout) as { running: boolean }).running).to.equal(false);

    daemon = await serve(dir.path);
    await pairgate(["pairing", "add", "telegram", "1"], env);
    const text = await pairgate(["status"], env);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.match(/^pairgate 0\.1\.0: running \(pid \d+, up /).and.contain("TLS off").and.contain("store:           ok (writable)");
    const s = JSON.parse((await pairgate(["status", "--json"], env)).stdout) as {
      running: boolean;
      version: string;
      uptimeMs: number;
      nodeListenAddress: string;
      pairedNodes: number;
      store: { writable: boolean };
      channels: Array<{ channel: string; accountId: string; policy: string; allowedCount: number }>;
    };
    expect([s.running, s.version, s.pairedNodes, s.store.writable]).to.deep.equal([true, "0.1.0", 0, true]);
    expect(s.nodeListenAddress).to.match(/^127\.0\.0\.1:\d+$/);
    expect(s.channels.find((c) => c.channel === "telegram")).to.include({ policy: "pairing", allowedCount: 1 });
    const version = JSON.parse((await pairgate(["version", "--json"], env)).stdout) as { daemon: { version: string } };
    expect(version.daemon.version).to.equal("0.1.0");
  });
});
