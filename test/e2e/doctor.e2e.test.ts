import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/temp-dir";
import { pairgate, serve, type ServeProcess, stopServe } from "./cli";

interface DoctorJson {
  ok: boolean;
  warnings: number;
  errors: number;
  findings: Array<{ severity: string; check: string; message: string; fix: string }>;
}

describe("pairgate doctor (built CLI, real daemon)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  let env: Record<string, string>;
  let config: string;
  beforeEach(() => {
    dir = tempDir();
    chmodSync(dir.path, 0o700);
    env = { PAIRGATE_HOME: dir.path };
    config = join(dir.path, "config.json");
  });
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  const doctor = async (): Promise<{ code: number; json: DoctorJson; text: string }> => {
    const j = await pairgate(["doctor", "--json"], env);
    const t = await pairgate(["doctor"], env);
    expect(t.code, "text and --json agree on the exit code").to.equal(j.code);
    return { code: j.code, json: JSON.parse(j.stdout) as DoctorJson, text: t.stdout };
  };
  const problems = (d: DoctorJson): string[] => d.findings.filter((f) => f.severity === "warning" || f.severity === "error").map((f) => `${f.severity}:${f.check}`);

  it("is green (exit 0) for a default setup with the daemon running", async () => {
    daemon = await serve(dir.path);
    const d = await doctor();
    expect(problems(d.json), d.text).to.deep.equal([]);
    expect(d.code).to.equal(0);
    expect(d.json.ok).to.equal(true);
    expect(d.json.findings.map((f) => f.check)).to.include.members(["daemon", "config", "file-mode", "store-verify", "disk"]);
    expect(d.text).to.contain("No problems found.");
  });

  it("warns about open DMs, a \"*\" allowFrom and loopback auto-approval, each with its fix", async () => {
    writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0", autoApproveLoopback: true }, channels: { whatsapp: { dmPolicy: "open", allowFrom: ["*"] } } }));
    daemon = await serve(dir.path);
    const d = await doctor();
    expect(d.code).to.equal(1);
    expect(problems(d.json)).to.deep.equal(["warning:dm-policy", "warning:allow-from", "warning:auto-approve"]);
    expect(d.json.findings.find((f) => f.check === "dm-policy")?.fix).to.contain('channels.whatsapp.dmPolicy to "pairing"');
    expect(d.text).to.contain("WARN  dm-policy: channels.whatsapp: dmPolicy \"open\"").and.contain("fix: ");
  });

  it("reports a non-loopback node listener without TLS as an error, and nodes.insecure as a warning", async () => {
    writeFileSync(config, JSON.stringify({ nodes: { listen: "0.0.0.0:0", insecure: true } }));
    daemon = await serve(dir.path);
    const d = await doctor();
    expect(d.code).to.equal(1);
    expect(problems(d.json)).to.deep.equal(["error:node-tls", "warning:insecure"]);
  });

  it("reports an open state dir and a config file others can read outside it", async () => {
    const outside = tempDir();
    try {
      const file = join(outside.path, "pairgate.json");
      writeFileSync(file, JSON.stringify({ nodes: { listen: "127.0.0.1:0" } }));
      chmodSync(file, 0o644);
      daemon = await serve(dir.path, ["--config", file]);
      chmodSync(dir.path, 0o755);
      const d = await doctor();
      expect(d.code).to.equal(1);
      const modes = d.json.findings.filter((f) => f.check === "file-mode").map((f) => f.message);
      expect(modes.some((m) => m.startsWith(`state dir ${dir.path} has mode 0755`))).to.equal(true);
      expect(modes.some((m) => m.startsWith(`config file ${file} has mode 0644`))).to.equal(true);
    } finally {
      outside.cleanup();
    }
  });

  it("works with the daemon down: says so, finds a stale socket after a SIGKILL, and still checks offline", async () => {
    const never = await doctor();
    expect(never.code).to.equal(1);
    expect(problems(never.json)).to.deep.equal(["warning:daemon"]);
    expect(never.json.findings.find((f) => f.check === "store-verify")?.severity).to.equal("info");

    daemon = await serve(dir.path);
    await pairgate(["pairing", "add", "telegram", "1"], env);
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    const d = await doctor();
    expect(problems(d.json)).to.deep.equal(["warning:socket", "warning:daemon"]);
    expect(d.json.findings.find((f) => f.check === "store-verify")?.message).to.contain("store verified (offline): 1 allowed senders");
  });

  it("reports an invalid config file as an error with the loader's message", async () => {
    writeFileSync(config, '{ "dm": { "maxPending": 0 } }');
    const d = await doctor();
    expect(d.code).to.equal(1);
    const f = d.json.findings.find((x) => x.check === "config");
    expect(f?.severity).to.equal("error");
    expect(f?.message).to.contain("dm.maxPending");
  });

  it("warns about a node certificate that expires within 14 days", async () => {
    const cert = join(dir.path, "cert.pem");
    const key = join(dir.path, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "3", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
    chmodSync(key, 0o600);
    writeFileSync(config, JSON.stringify({ nodes: { listen: "127.0.0.1:0", tls: { cert, key } } }));
    daemon = await serve(dir.path);
    const d = await doctor();
    expect(problems(d.json)).to.deep.equal(["warning:certificate"]);
    expect(d.json.findings.find((f) => f.check === "certificate")?.message).to.match(/expires in [23] days/);
    await stopServe(daemon);
    daemon = undefined;
    const offline = await doctor();
    expect(problems(offline.json)).to.deep.equal(["warning:daemon", "warning:certificate"]);
  });
});
