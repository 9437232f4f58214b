import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { PairgateClient, UnavailableError, Decision } from "../../clients/ts";
import { parseConfig } from "../../src/config/load";
import { startDaemon, type Daemon } from "../../src/daemon";
import { silentLogger } from "../../src/domain/logger";
import { WriteFaults } from "../../src/storage/write-faults";
import { expectRejection } from "../helpers/expect-error";
import { tempDir } from "../helpers/temp-dir";

function healthOf(socketPath: string, service: string): Promise<string> {
  const buf = join(__dirname, "..", "..", "node_modules", ".bin", "buf");
  const schema = require.resolve("grpc-health-check/proto/health/v1/health.proto");
  const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", socketPath, "--schema", schema];
  return new Promise((resolve, reject) =>
    execFile(buf, [...args, "-d", JSON.stringify({ service }), "http://pairgate/grpc.health.v1.Health/Check"], (err, stdout) =>
      err ? reject(err) : resolve((JSON.parse(stdout) as { status: string }).status),
    ),
  );
}

describe("a daemon whose store fails a write", function () {
  this.timeout(30_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: Daemon | undefined;
  let client: PairgateClient | undefined;
  const start = async (faults?: WriteFaults): Promise<void> => {
    daemon = await startDaemon({
      home: dir.path,
      config: parseConfig({ nodes: { listen: "127.0.0.1:0" } }),
      logger: silentLogger,
      ...(faults === undefined ? {} : { storeFaults: faults }),
    });
    client = new PairgateClient({ socketPath: daemon.socketPath });
  };
  const stop = async (): Promise<void> => {
    client?.close();
    await daemon?.stop();
    daemon = undefined;
  };
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    await stop();
    dir.cleanup();
  });

  it("answers UNAVAILABLE, fences writes, keeps serving reads, reports NOT_SERVING and its state, and keeps what it acknowledged", async () => {
    const faults = new WriteFaults();
    await start(faults);
    await client!.dmPairing.addAllowedSender({ channel: "telegram", senderId: "1" });
    expect((await client!.admin.getStoreStatus()).writable).to.equal(true);

    faults.failNextWrites(1, "ENOSPC");
    await expectRejection(client!.dmPairing.addAllowedSender({ channel: "telegram", senderId: "2" }), UnavailableError);
    // The disk is fine again, but nothing is acknowledged until a restart.
    const err = await expectRejection(client!.dmPairing.addAllowedSender({ channel: "telegram", senderId: "3" }), UnavailableError);
    expect(err.message).to.include("read-only after a failed write");
    await expectRejection(client!.dmPairing.revokeAllowedSender({ channel: "telegram", senderId: "1" }), UnavailableError);

    const allowed = await client!.dmAccess.checkInbound({ channel: "telegram", senderId: "1" });
    expect(allowed.decision).to.equal(Decision.DECISION_ALLOW);
    const status = await client!.admin.getStoreStatus();
    expect(status).to.deep.include({ writable: false });
    expect(status.fenceCause).to.include("No space left on device");
    expect(daemon!.storeState()).to.deep.include({ writable: false });
    expect(await healthOf(daemon!.socketPath, "pairgate.v1.DmPairingService")).to.equal("NOT_SERVING");
    expect(await healthOf(daemon!.socketPath, "pairgate.v1.NodeAdminService")).to.equal("NOT_SERVING");
    expect(await healthOf(daemon!.socketPath, "")).to.equal("NOT_SERVING");
    expect(await healthOf(daemon!.socketPath, "pairgate.v1.DmAccessService")).to.equal("SERVING");

    await stop();
    await start();
    expect((await client!.admin.getStoreStatus()).writable).to.equal(true);
    const senders = (await client!.dmPairing.listAllowedSenders({ channel: "telegram" })).senders.map((s) => s.senderId);
    expect(senders).to.deep.equal(["1"]);
    await client!.dmPairing.addAllowedSender({ channel: "telegram", senderId: "4" });
  });

  it("verifies its store through AdminService.VerifyStore", async () => {
    await start();
    await client!.dmPairing.addAllowedSender({ channel: "telegram", senderId: "1" });
    await client!.dmAccess.checkInbound({ channel: "slack", senderId: "U9" });
    const r = await client!.admin.verifyStore();
    expect(r.ok).to.equal(true);
    const counts = Object.fromEntries(r.counts.map((c) => [c.collection, c.count]));
    expect(counts).to.include({ dmAllow: 1, dmRequests: 1, dmCodes: 1, dmExpiry: 1, dmScopeStats: 1 });
  });
});
