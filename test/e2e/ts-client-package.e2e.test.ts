import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");

/** A plain-JS program using only the installed package (and node:crypto for the node's Ed25519 key). */
const CONSUMER = `
const crypto = require("node:crypto");
const pg = require("@pairgate/client");

async function main() {
  const [socketPath, gateway] = process.argv.slice(2);
  const result = { resolved: require.resolve("@pairgate/client") };

  // A chat adapter's call.
  const client = new pg.PairgateClient({ socketPath });
  const verdict = await client.dmAccess.checkInbound({ channel: "telegram", senderId: "31337" });
  result.decision = pg.Decision[verdict.decision];
  result.replyText = verdict.replyText;
  try {
    await client.dmAccess.checkInbound({ channel: "carrier-pigeon", senderId: "1" });
  } catch (err) {
    result.badChannel = { name: err.name, isInvalidArgument: err instanceof pg.InvalidArgumentError, field: err.field };
  }
  client.close();

  // The node handshake (the gateway auto-approves loopback nodes in this test).
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
  const nodeId = pg.nodeIdFromPublicKey(raw);
  const node = new pg.NodeGatewayClient({ address: gateway });
  const { gatewayId } = await node.getGatewayInfo();
  const sign = (purpose, nonce, body) => crypto.sign(null, pg.nodeSignedPayload(purpose, gatewayId, nodeId, nonce, body), privateKey);
  const fields = { publicKey: raw, displayName: "JS node", platform: "linux", version: "1.0.0", deviceFamily: "desktop", modelIdentifier: "", caps: [] };
  let { nonce } = await node.createChallenge(nodeId);
  const ticket = await node.requestPairing({ ...fields, nonce, signature: sign(pg.NodeSignPurpose.pairRequest, nonce, pg.pairRequestDigest(fields)) });
  result.pairingStatus = pg.NodePairingStatus[ticket.status];
  ({ nonce } = await node.createChallenge(nodeId));
  const { token } = await node.claimToken(nodeId, nonce, sign(pg.NodeSignPurpose.claim, nonce, new Uint8Array()));
  ({ nonce } = await node.createChallenge(nodeId));
  const session = await node.authenticate(nodeId, nonce, sign(pg.NodeSignPurpose.connect, nonce, pg.tokenDigest(token)), token);
  const beat = await node.heartbeat(session.sessionToken);
  result.token = token.slice(0, 4);
  result.session = session.sessionToken.slice(0, 4);
  result.heartbeat = beat.sessionExpiresAtMs > Date.now();
  node.close();
  console.log(JSON.stringify(result));
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

/** A TypeScript consumer: type-checks against the package's .d.ts files only. */
const TS_CONSUMER = `
import { Decision, PairgateClient, type CheckInboundResponse, UnauthenticatedError } from "@pairgate/client";
const client: PairgateClient = new PairgateClient({ socketPath: "/tmp/x.sock", deadlineMs: 1000 });
export async function verdict(): Promise<boolean> {
  const res: CheckInboundResponse = await client.dmAccess.checkInbound({ channel: "telegram", senderId: "1" });
  return res.decision === Decision.DECISION_ALLOW && !(res instanceof UnauthenticatedError);
}
`;

describe("@pairgate/client packed with npm pack and installed into a temp project", function () {
  this.timeout(180_000);
  let dir: { path: string; cleanup: () => void };
  let project: string;
  let t: TestDaemon | undefined;

  before(async () => {
    dir = tempDir();
    const { stdout } = await run("bash", [join(ROOT, "scripts", "pack-client.sh"), join(dir.path, "pack")]);
    const tarball = stdout.trim().split("\n").pop()!;
    expect(tarball).to.match(/pairgate-client-\d+\.\d+\.\d+\.tgz$/);
    project = join(dir.path, "project");
    await run("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    // From the npm cache when it has everything (a machine that ran `npm ci`), else from the registry.
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: project });
  });
  after(async () => {
    await t?.stop();
    dir.cleanup();
  });

  it("declares exactly the runtime dependencies the repository pins, at the same versions", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "clients", "ts", "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    for (const [name, version] of Object.entries(pkg.dependencies)) expect(root.dependencies[name], name).to.equal(version);
  });

  it("calls CheckInbound and completes the node handshake from plain JavaScript", async () => {
    t = await startTestDaemon({ config: { nodes: { autoApproveLoopback: true } } });
    writeFileSync(join(project, "consumer.js"), CONSUMER);
    const { stdout } = await run(process.execPath, ["consumer.js", t.daemon.socketPath, t.daemon.nodeAddress], { cwd: project });
    const result = JSON.parse(stdout) as Record<string, unknown>;
    expect(result.resolved).to.equal(join(project, "node_modules", "@pairgate", "client", "index.js"));
    expect(result.decision).to.equal("DECISION_PAIRING_REQUIRED");
    expect(result.replyText).to.include("Pairing code:");
    expect(result.badChannel).to.deep.equal({ name: "InvalidArgumentError", isInvalidArgument: true, field: "channel" });
    expect(result.pairingStatus).to.equal("NODE_PAIRING_STATUS_APPROVED");
    expect(result).to.include({ token: "pgn_", session: "pgs_", heartbeat: true });
    const nodes = (await t.client.nodeAdmin.listNodes({})).nodes;
    expect(nodes.map((n) => n.displayName)).to.deep.equal(["JS node"]);
  });

  it("ships .d.ts files a strict TypeScript project compiles against", async () => {
    writeFileSync(join(project, "consumer.ts"), TS_CONSUMER);
    const tsc = join(ROOT, "node_modules", ".bin", "tsc");
    const args = ["--noEmit", "--strict", "--skipLibCheck", "--module", "node16", "--moduleResolution", "node16", "--target", "es2022"];
    await run(tsc, [...args, "--typeRoots", join(ROOT, "node_modules", "@types"), "--types", "node", "consumer.ts"], { cwd: project });
  });
});
