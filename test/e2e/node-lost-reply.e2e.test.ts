import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { NodeTokenState, PairgateClient, UnauthenticatedError } from "../../clients/ts";
import { expectRejection } from "../helpers/expect-error";
import { LossyProxy } from "../helpers/lossy-proxy";
import { until } from "../helpers/child";
import { freePort } from "../helpers/free-port";
import { tempDir } from "../helpers/temp-dir";
import { TestNode } from "../helpers/test-node";
import { serve, type ServeProcess } from "./cli";

const NODE = join(__dirname, "..", "..", "dist", "clients", "node", "main.js");

interface NodeProc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function runNode(args: string[]): NodeProc {
  const child = spawn(process.execPath, [NODE, ...args], { env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out: () => out, exited };
}

/**
 * Lost replies with the real processes: the built daemon, the reference node, and a proxy between them
 * that holds the gateway's replies. The daemon is SIGKILLed on its "node token claimed" / "node token
 * rotated" log line (the commit is synced by then) and the held reply is discarded, so the node never
 * gets the token. It must recover by retrying, without pairing again.
 */
describe("pairgate-node recovers from a lost ClaimToken or RotateToken reply (daemon SIGKILLed after the commit)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  let proxy: LossyProxy | undefined;
  const procs: NodeProc[] = [];

  before(function () {
    if (!existsSync(NODE)) throw new Error("run `make build` before the e2e tests");
  });
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
      await p.exited;
    }
    if (daemon !== undefined && daemon.child.exitCode === null) {
      daemon.child.kill("SIGTERM");
      await daemon.exited;
    }
    await proxy?.close();
    dir.cleanup();
  });

  it("finishes pairing after a lost claim reply and rotates after a lost rotate reply; the old token then fails", async () => {
    const home = join(dir.path, "home");
    const port = await freePort();
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: `127.0.0.1:${port}` } }));
    daemon = await serve(home, ["-c", config]);
    proxy = await LossyProxy.start({ host: "127.0.0.1", port });
    const admin = (): PairgateClient => new PairgateClient({ socketPath: join(home, "pairgate.sock") });

    /** Holds replies, waits for the commit line, SIGKILLs the daemon, drops the held reply, restarts. */
    const killOnCommit = async (line: string): Promise<void> => {
      const d = daemon!;
      await until(() => (d.stderr().includes(line) ? true : undefined), `the daemon's "${line}" line`);
      d.child.kill("SIGKILL");
      await d.exited;
      proxy!.dropAll();
      proxy!.delayReplies(0);
      daemon = await serve(home, ["-c", config]);
      expect(daemon.stderr()).to.contain("pairgate daemon listening on");
    };

    const state = join(dir.path, "node", "state.json");
    const pair = runNode(["pair", "--gateway", proxy.address, "--name", "Pixel 8", "--state", state]);
    procs.push(pair);
    let client = admin();
    let requestId = "";
    await until(async () => {
      requestId = (await client.nodeAdmin.listPendingNodes({})).requests[0]?.requestId ?? "";
      return requestId === "" ? undefined : true;
    }, "the pending request");
    proxy.delayReplies(500);
    await client.nodeAdmin.approveNode(requestId);
    client.close();
    await killOnCommit("node token claimed");
    expect(await pair.exited, pair.out()).to.equal(0);
    expect(pair.out()).to.match(/claim failed .*; retry 1/).and.contain('Paired as "Pixel 8"');
    const paired = JSON.parse(readFileSync(state, "utf8")) as { token: string; seed: string };
    client = admin();
    const [listed] = (await client.nodeAdmin.listNodes({})).nodes;
    expect(listed?.tokenState, "pair used its token once").to.equal(NodeTokenState.NODE_TOKEN_STATE_ACTIVE);
    client.close();

    proxy.delayReplies(500);
    const rotate = runNode(["rotate", "--state", state]);
    procs.push(rotate);
    await killOnCommit("node token rotated");
    expect(await rotate.exited, rotate.out()).to.equal(0);
    expect(rotate.out()).to.match(/rotate failed .*; retry 1/).and.contain("Token rotated");
    const rotated = JSON.parse(readFileSync(state, "utf8")) as { token: string };
    expect(rotated.token).to.match(/^pgn_/).and.not.equal(paired.token);

    const node = await new TestNode(`127.0.0.1:${port}`, Buffer.from(paired.seed, "base64")).init();
    try {
      await expectRejection(node.authenticate(paired.token), UnauthenticatedError);
      await node.authenticate(rotated.token);
    } finally {
      node.close();
    }
    const connect = runNode(["connect", "--state", state, "--interval", "1"]);
    procs.push(connect);
    await until(() => (connect.out().includes("Heartbeat ok.") ? true : undefined), "a heartbeat with the rotated token");
  });
});
