import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { until } from "../helpers/child";
import { freePort } from "../helpers/free-port";
import { decodePngQr, decodeTerminalQr } from "../helpers/qr-decode";
import { tempDir } from "../helpers/temp-dir";
import { CLI, pairgate, serve, type ServeProcess, stopServe } from "./cli";

const NODE = join(__dirname, "..", "..", "dist", "clients", "node", "main.js");

/** Runs the built pairgate-node to completion. */
function pairgateNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [NODE, ...args], { env: { ...process.env, NO_COLOR: "1", ...env } });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

interface InviteJson {
  invite: { inviteId: string; name: string; maxUses: number; uses: number; expiresAtMs: number; createdAtMs: number };
  uri: string;
  addresses: string[];
  gatewayId: string;
  tlsSpkiSha256: string;
}

describe("pairing a phone by invite end to end (built pairgate and pairgate-node as subprocesses, TLS auto)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;

  before(() => {
    if (!existsSync(CLI) || !existsSync(NODE)) throw new Error("run `make build` before the e2e tests");
  });
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  it("prints a URI and QR code (terminal and PNG), pairs the node at once over the pinned TLS, and refuses the used, revoked or wrong invite", async () => {
    const port = await freePort();
    const home = join(dir.path, "home");
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: `127.0.0.1:${port}`, tls: "auto" } }));
    daemon = await serve(home, ["--config", config]);
    const cli = (...args: string[]) => pairgate(["--home", home, ...args]);

    // The human form: summary, QR code (forced with --qr, stdout is a pipe here), the URI, next steps.
    const png = join(dir.path, "invite.png");
    const shown = await cli("nodes", "invite", "--name", "Pixel 8", "--ttl", "5m", "--qr", "--png", png);
    expect(shown.code, shown.stderr).to.equal(0);
    const uri = /^(pairgate:\/\/pair\?\S+)$/m.exec(shown.stdout)?.[1];
    expect(uri, shown.stdout).to.be.a("string");
    expect(shown.stdout).to.match(/^Invite [0-9a-f]{16} "Pixel 8": single use, valid 5 min/m);
    expect(shown.stdout).to.include(`127.0.0.1:${port} (TLS, key pinned by the URI)`);
    expect(decodeTerminalQr(shown.stdout), "the terminal QR code decodes to the URI").to.equal(uri);
    const file = readFileSync(png);
    expect(file.subarray(0, 8).toString("hex"), "PNG signature").to.equal("89504e470d0a1a0a");
    expect(statSync(png).mode & 0o777, "the PNG holds the secret: owner only").to.equal(0o600);
    expect(decodePngQr(file), "the PNG decodes to the URI").to.equal(uri);
    const params = new URLSearchParams(uri!.slice("pairgate://pair?".length));
    const tls = JSON.parse((await cli("nodes", "tls", "--json")).stdout) as { spkiSha256Hex: string };
    expect(params.get("tls_pin")).to.equal(tls.spkiSha256Hex);
    expect(params.getAll("addr")).to.deep.equal([`127.0.0.1:${port}`]);
    const secret = params.get("secret")!;

    // The listing never shows the secret.
    const listed = await cli("nodes", "invites", "--json");
    expect(listed.stdout).to.not.include(secret);
    const invites = (JSON.parse(listed.stdout) as { invites: Array<{ inviteId: string; uses: number }> }).invites;
    expect(invites.map((i) => i.uses)).to.deep.equal([0]);

    // The phone: approved at once, no owner step; the token is claimed and used once.
    const state = join(dir.path, "phone.json");
    const paired = await pairgateNode(["pair", "--invite", uri!, "--state", state]);
    expect(paired.code, paired.out).to.equal(0);
    expect(paired.out).to.match(/Approved by invite [0-9a-f]{16} at gateway/);
    expect(paired.out).to.include('Paired as "Pixel 8"');
    const saved = readFileSync(state, "utf8");
    expect(saved, "the node never stores the setup secret").to.not.include(secret);
    expect((JSON.parse(saved) as { tlsPin: string }).tlsPin).to.equal(`sha256/${Buffer.from(tls.spkiSha256Hex, "hex").toString("base64")}`);

    // nodes list shows the source, in JSON and for people/pipes.
    const nodes = JSON.parse((await cli("nodes", "list", "--json")).stdout) as { nodes: Array<{ nodeId: string; approvedVia: string; inviteId: string; tokenState: string }> };
    expect(nodes.nodes).to.have.length(1);
    expect(nodes.nodes[0]).to.include({ approvedVia: "invite", inviteId: invites[0]!.inviteId, tokenState: "active" });
    expect((await cli("nodes", "list")).stdout).to.include(`(invite ${invites[0]!.inviteId})`);
    expect(JSON.parse((await cli("nodes", "invites", "--json")).stdout).invites[0]).to.include({ uses: 1, lastNodeId: nodes.nodes[0]!.nodeId });

    // The node connects over the TLS key pinned from the URI.
    const connect = spawn(process.execPath, [NODE, "connect", "--interval", "1", "--state", state], { env: { ...process.env, NO_COLOR: "1" } });
    let connectOut = "";
    connect.stdout.on("data", (d: Buffer) => (connectOut += d.toString()));
    await until(() => (connectOut.includes("Heartbeat ok.") ? true : undefined), "the first heartbeat");
    connect.kill("SIGTERM");

    // The same single-use URI on another phone: refused, nothing pending.
    const again = await pairgateNode(["pair", "--invite", uri!, "--state", join(dir.path, "other.json")]);
    expect(again.code).to.equal(1);
    expect(again.out).to.match(/was already used \(1 of 1\)/);
    expect((await cli("nodes", "pending")).stdout.trim()).to.equal("No pending node pairing requests.");

    // A wrong secret is refused; a revoked invite is refused.
    const second = JSON.parse((await cli("nodes", "invite", "--json")).stdout) as InviteJson;
    const wrong = second.uri.replace(/secret=[^&]+/, `secret=${Buffer.alloc(32, 7).toString("base64url")}`);
    const bad = await pairgateNode(["pair", "--invite", wrong, "--name", "Mallory", "--state", join(dir.path, "m.json")]);
    expect(bad.code).to.equal(1);
    expect(bad.out).to.include("wrong setup secret");
    const revoked = await cli("nodes", "invites", "revoke", second.invite.inviteId);
    expect(revoked.code, revoked.stderr).to.equal(0);
    const late = await pairgateNode(["pair", "--invite", second.uri, "--name", "Late", "--state", join(dir.path, "late.json")]);
    expect(late.code).to.equal(1);
    expect(late.out).to.include("unknown or was revoked");
    expect((await cli("nodes", "invites", "revoke", second.invite.inviteId)).code, "revoking twice: not found").to.equal(1);
    expect((await cli("nodes", "invites", "revoke", "xyz")).code, "a malformed id is a usage error").to.equal(2);
    expect((await cli("nodes", "invite", "--ttl", "soon")).code).to.equal(2);
    expect(JSON.parse((await cli("nodes", "list", "--json")).stdout).nodes).to.have.length(1);
  });
});
