import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { until } from "../helpers/child";
import { freePort } from "../helpers/free-port";
import { tempDir } from "../helpers/temp-dir";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const CLI = join(ROOT, "dist", "src", "cli", "main.js");
const NODE = join(ROOT, "dist", "clients", "node", "main.js");


/** A running child process with its output collected. */
interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [file, ...args], { env: { ...process.env, NO_COLOR: "1", ...env } });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out: () => out, exited };
}


describe("node pairing end to end (built pairgate and pairgate-node as subprocesses)", () => {
  let dir: { path: string; cleanup: () => void };
  let daemon: Proc | undefined;
  const procs: Proc[] = [];

  before(function () {
    if (!existsSync(CLI) || !existsSync(NODE)) throw new Error("run `make build` before the e2e tests");
  });
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const p of [...procs.splice(0), ...(daemon === undefined ? [] : [daemon])]) {
      if (p.child.exitCode === null) p.child.kill("SIGTERM");
      await p.exited;
    }
    daemon = undefined;
    dir.cleanup();
  });

  it("pairs, approves by prefix, connects and heartbeats, and ends the connection on revoke", async () => {
    const port = await freePort();
    const home = join(dir.path, "home");
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: `127.0.0.1:${port}`, name: "Test gateway" } }));
    const cli = (...args: string[]) => run(process.execPath, [CLI, "--home", home, ...args], { env: { ...process.env, NO_COLOR: "1" } });

    daemon = start(CLI, ["--home", home, "serve", "-c", config]);
    await until(() => (existsSync(join(home, "pairgate.sock")) ? true : undefined), "the daemon socket");
    expect((await cli("nodes", "pending")).stdout.trim()).to.equal("No pending node pairing requests.");

    const state = join(dir.path, "node", "state.json");
    const pair = start(NODE, ["pair", "--gateway", `127.0.0.1:${port}`, "--name", "Pixel 8", "--platform", "android", "--state", state]);
    procs.push(pair);
    const pending = await until(async () => {
      const res = JSON.parse((await cli("nodes", "pending", "--json")).stdout) as { requests: Array<{ requestId: string; nodeId: string }> };
      return res.requests[0];
    }, "the pending request");
    const table = (await cli("nodes", "pending")).stdout;
    for (const h of ["Request", "Node", "Name", "Platform", "IP", "Requested", "Repair"]) expect(table).to.contain(h);
    expect(table).to.contain("Pixel 8").and.to.contain("127.0.0.1");

    const approved = await cli("nodes", "approve", pending.requestId.slice(0, 6));
    expect(approved.stdout).to.contain("Approved node Pixel 8");
    expect(await pair.exited, pair.out()).to.equal(0);
    expect(pair.out()).to.contain("Paired as \"Pixel 8\"");
    expect(statSync(state).mode & 0o777).to.equal(0o600);
    const saved = JSON.parse(readFileSync(state, "utf8")) as { token: string; nodeId: string };
    expect(saved.token).to.match(/^pgn_/);
    expect(saved.nodeId).to.equal(pending.nodeId);

    const status = await run(process.execPath, [NODE, "status", "--state", state]);
    expect(status.stdout).to.contain(saved.nodeId).and.not.contain(saved.token);

    const connect = start(NODE, ["connect", "--state", state, "--interval", "1"]);
    procs.push(connect);
    await until(() => (connect.out().includes("Heartbeat ok.") ? true : undefined), "the first heartbeat");
    const list = JSON.parse((await cli("nodes", "list", "--json")).stdout) as { nodes: Array<{ tokenState: string }> };
    expect(list.nodes.map((n) => n.tokenState)).to.deep.equal(["active"]);
    expect(JSON.stringify(list)).to.not.contain(saved.token);

    await cli("nodes", "rename", saved.nodeId.slice(0, 8), "Work phone");
    await until(() => (connect.out().includes('renamed this node to "Work phone"') ? true : undefined), "the rename event");

    const revoked = await cli("nodes", "revoke", saved.nodeId.slice(0, 8), "--yes");
    expect(revoked.stdout).to.contain("Revoked node");
    expect(await connect.exited, connect.out()).to.equal(1);
    expect(connect.out()).to.contain("no longer paired");
    expect((await cli("nodes", "list")).stdout.trim()).to.equal("No paired nodes.");
  });

  it("reports an unknown id prefix with exit 1 and a malformed one with exit 2", async () => {
    const port = await freePort();
    const home = join(dir.path, "home");
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: `127.0.0.1:${port}` } }));
    daemon = start(CLI, ["--home", home, "serve", "-c", config]);
    await until(() => (existsSync(join(home, "pairgate.sock")) ? true : undefined), "the daemon socket");
    const fail = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
      try {
        await run(process.execPath, [CLI, "--home", home, ...args]);
        return { code: 0, stderr: "" };
      } catch (err) {
        const e = err as { code: number; stderr: string };
        return { code: e.code, stderr: e.stderr };
      }
    };
    const unknown = await fail("nodes", "approve", "abcdef");
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain("No pending node pairing request matches");
    const bad = await fail("nodes", "revoke", "not-hex");
    expect(bad.code).to.equal(2);
  });
});
