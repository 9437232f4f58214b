import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { type Child, startChild, until } from "../helpers/child";
import { externalComponentMissing, findPython } from "../helpers/external";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const PY_DIR = join(ROOT, "clients", "python");
const PYTHON = findPython();

/**
 * The socket an adapter should use: `<home>/adapter.sock` when the daemon serves one, else the
 * operator socket (daemons before the adapter socket existed).
 */
function adapterSocket(t: TestDaemon): string {
  const adapter = join(t.home, "adapter.sock");
  return existsSync(adapter) ? adapter : t.daemon.socketPath;
}

describe("Python reference clients (clients/python) against a real daemon", function () {
  if (PYTHON === undefined) {
    externalComponentMissing("A Python with grpcio, protobuf, grpc_tools and PyNaCl (for clients/python)");
    return;
  }
  const python: string = PYTHON;
  this.timeout(90_000);
  let dir: { path: string; cleanup: () => void };
  let stubs: string;
  let t: TestDaemon | undefined;
  const children: Child[] = [];

  /** Runs a clients/python script with the generated stubs. */
  const py = (script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Child => {
    const c = startChild(python, ["-u", join(PY_DIR, script), ...args], { PAIRGATE_PY_STUBS: stubs, ...env });
    children.push(c);
    return c;
  };

  before(async () => {
    dir = tempDir();
    stubs = join(dir.path, "stubs");
    // The documented generation command (`make python-stubs` runs the same script), into a temp dir.
    const { stdout } = await run(python, [join(PY_DIR, "generate.py"), "--out", stubs]);
    expect(stdout).to.match(/generated \d+ files/);
  });
  after(() => dir.cleanup());
  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    await t?.stop();
    t = undefined;
  });

  it("checks its signed-payload builder against every test vector in docs/protocol.md", async () => {
    const { stdout } = await run(python, [join(PY_DIR, "node.py"), "vectors", join(ROOT, "docs", "protocol.md")], {
      env: { ...process.env, PAIRGATE_PY_STUBS: stubs },
    });
    expect(stdout.trim().split("\n")).to.deep.equal([
      "vector pair-request: ok",
      "vector claim: ok",
      "vector connect: ok",
      "vector rotate: ok",
      "vector invite: ok",
    ]);
  });

  it("adapter: replies with a code, delivers and acks the approval notice, then lets the sender through", async () => {
    t = await startTestDaemon();
    const client = t.client;
    const adapter = py("adapter.py", ["--channel", "telegram", "--socket", adapterSocket(t)]);
    const connected = async (): Promise<number> =>
      (await client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram" && c.accountId === "default")?.adaptersConnected ?? 0;
    await until(async () => ((await connected()) === 1 ? true : undefined), "the adapter's notification stream");

    adapter.writeLine("4242 hello there");
    const send = await adapter.waitFor(/^SEND 4242 (.*)$/m);
    const reply = JSON.parse(send[1]!) as string;
    const [pending] = (await client.dmPairing.listPairingRequests({ channel: "telegram" })).requests;
    expect(pending?.senderId).to.equal("4242");
    expect(reply).to.include(`Pairing code: ${pending!.code}`);
    expect(reply).to.include(`pairgate pairing approve telegram ${pending!.code}`);

    // The same sender again: same code, no second reply; the message is dropped.
    const before = adapter.stdout().length;
    adapter.writeLine("4242 are you there?");
    expect((await adapter.waitFor(/^(\w+) 4242 (.*)$/m, 15_000, before))[1]).to.equal("DROP");

    const approved = await client.dmPairing.approvePairingCode({ channel: "telegram", code: pending!.code, notify: true });
    const deliver = await adapter.waitFor(/^DELIVER 4242 (.*)$/m);
    expect(JSON.parse(deliver[1]!)).to.include("approved");
    await adapter.waitFor(new RegExp(`^ACK ${approved.notificationId}$`, "m"));
    await until(
      async () => ((await client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram")?.undeliveredNotifications === 0 ? true : undefined),
      "the outbox to be empty after the ack",
    );

    adapter.writeLine("4242 now it works");
    await adapter.waitFor(/^ALLOW 4242 now it works$/m);
    adapter.writeLine("999 a stranger");
    await adapter.waitFor(/^SEND 999 /m);
  });

  it("adapter: fails closed while the daemon is down and reconnects its stream with backoff when it is back", async () => {
    t = await startTestDaemon();
    const home = t.home;
    const socket = adapterSocket(t);
    const adapter = py("adapter.py", ["--channel", "telegram", "--socket", socket, "--max-backoff", "1"]);
    const connected = async (d: TestDaemon): Promise<true | undefined> =>
      (await d.client.dmPairing.listChannels()).channels.find((c) => c.channel === "telegram")?.adaptersConnected === 1 ? true : undefined;
    await until(() => connected(t!), "the first subscription");

    // Keep the state dir: stop only the daemon, then start a new one on the same home.
    const first = t;
    t = undefined;
    first.client.close();
    await first.daemon.stop();
    await until(() => (/notification stream broke \(UNAVAILABLE/.test(adapter.stderr()) ? true : undefined), "the adapter to see the stream end");

    const mark = adapter.stdout().length;
    adapter.writeLine("777 hello while down");
    const line = await adapter.waitFor(/^(\w+) 777 (.*)$/m, 15_000, mark);
    expect(line[1], "a message without a verdict must be dropped").to.equal("DROP");
    expect(line[2]).to.match(/pairgate unavailable \(UNAVAILABLE/);

    const second = await startTestDaemon({ home });
    t = { ...second, stop: async () => second.stop() };
    await until(() => connected(second), "the adapter to resubscribe after the restart", 20_000);
    expect(adapter.stderr()).to.match(/reconnecting in \d/);

    // The new daemon delivers through the re-opened stream.
    const mark2 = adapter.stdout().length;
    adapter.writeLine("777 hello again");
    await adapter.waitFor(/^SEND 777 /m, 15_000, mark2);
    const pendingCode = (await second.client.dmPairing.listPairingRequests({ channel: "telegram" })).requests[0]!.code;
    await second.client.dmPairing.approvePairingCode({ channel: "telegram", code: pendingCode, notify: true });
    await adapter.waitFor(/^DELIVER 777 /m, 15_000, mark2);
  });

  it("node: pairs, claims, authenticates, heartbeats, rotates its token, sees a rename, and stops when revoked", async () => {
    t = await startTestDaemon();
    const client = t.client;
    const state = join(dir.path, "node-state.json");
    const pair = py("node.py", ["pair", "--gateway", t.daemon.nodeAddress, "--name", "Py phone", "--platform", "android", "--cap", "camera", "--state", state]);
    await pair.waitFor(/Waiting for the owner to run: pairgate nodes approve ([0-9a-f]{8})/);
    const pending = await until(async () => (await client.nodeAdmin.listPendingNodes({})).requests[0], "the pending request");
    expect(pending.displayName).to.equal("Py phone");
    expect(pending.caps).to.deep.equal(["camera"]);
    await client.nodeAdmin.approveNode(pending.requestId);
    expect(await pair.exited, pair.stderr()).to.equal(0);
    expect(pair.stdout()).to.match(/Paired as "Py phone"/);
    expect(statSync(state).mode & 0o777).to.equal(0o600);
    const saved = JSON.parse(readFileSync(state, "utf8")) as { token: string; node_id: string };
    expect(saved.token).to.match(/^pgn_[A-Za-z0-9_-]{43}$/);
    expect(saved.node_id).to.equal(pending.nodeId);

    const rotate = py("node.py", ["rotate", "--state", state]);
    expect(await rotate.exited, rotate.stderr()).to.equal(0);
    expect(rotate.stdout()).to.include("Token rotated; authenticated with the new token.");
    const rotated = (JSON.parse(readFileSync(state, "utf8")) as { token: string }).token;
    expect(rotated).to.match(/^pgn_/).and.not.equal(saved.token);

    const connect = py("node.py", ["connect", "--interval", "0.3", "--state", state]);
    await connect.waitFor(/Heartbeat ok\./);
    const listed = (await client.nodeAdmin.listNodes({})).nodes.find((n) => n.nodeId === pending.nodeId);
    expect(listed?.lastSeenAtMs ?? 0).to.be.greaterThan(0);
    await client.nodeAdmin.renameNode(pending.nodeId, "Renamed phone");
    await connect.waitFor(/The owner renamed this node to "Renamed phone"\./);

    await client.nodeAdmin.revokeNode(pending.nodeId);
    expect(await connect.exited).to.equal(1);
    expect(connect.stderr()).to.include("this node is no longer paired");

    // After revocation the stored token no longer authenticates.
    const again = py("node.py", ["rotate", "--state", state]);
    expect(await again.exited).to.equal(1);
    expect(again.stderr()).to.include("UNAUTHENTICATED: authentication failed");
  });

  it("node: pairs by invite over TLS pinned from the URI, approved at once; the same single-use URI is refused for a second node", async () => {
    t = await startTestDaemon({ config: { nodes: { tls: "auto" } } });
    const client = t.client;
    const created = await client.nodeAdmin.createNodeInvite({ name: "Py invite phone" });
    expect(created.uri).to.include("tls_pin=");
    const state = join(dir.path, "invite-state.json");
    const pair = py("node.py", ["pair", "--invite", created.uri, "--state", state]);
    expect(await pair.exited, pair.stderr()).to.equal(0);
    expect(pair.stdout()).to.match(/Approved by invite [0-9a-f]{16}/);
    expect(pair.stdout()).to.match(/Paired as "Py invite phone"/);
    const saved = JSON.parse(readFileSync(state, "utf8")) as Record<string, string>;
    expect(JSON.stringify(saved), "the secret is never stored").to.not.include(created.secret);
    const [node] = (await client.nodeAdmin.listNodes({})).nodes;
    expect(node?.approvedVia).to.equal("invite");
    expect(node?.inviteId).to.equal(created.invite!.inviteId);
    expect((await client.nodeAdmin.listPendingNodes({})).requests).to.have.length(0);

    const connect = py("node.py", ["connect", "--interval", "0.3", "--state", state]);
    await connect.waitFor(/Heartbeat ok\./);
    await client.nodeAdmin.revokeNode(node!.nodeId);
    expect(await connect.exited).to.equal(1);

    const second = py("node.py", ["pair", "--invite", created.uri, "--state", join(dir.path, "invite-state-2.json")]);
    expect(await second.exited).to.equal(1);
    expect(second.stderr()).to.include("PERMISSION_DENIED").and.include("was already used");
    expect((await client.nodeAdmin.listPendingNodes({})).requests, "a refused invite creates no pending request").to.have.length(0);
    expect((await client.nodeAdmin.listNodes({})).nodes).to.have.length(0);
  });
});
