import { expect } from "chai";
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Decision, PairgateClient, PermissionDeniedError } from "../../clients/ts";
import { parseConfig } from "../../src/config/load";
import { DaemonStartError, startDaemon } from "../../src/daemon";
import { silentLogger } from "../../src/domain/logger";
import { AdminServiceService } from "../../src/gen/pairgate/v1/admin_service";
import { DmPairingServiceService } from "../../src/gen/pairgate/v1/dm_pairing_service";
import { NodeAdminServiceService } from "../../src/gen/pairgate/v1/node_admin_service";
import { expectRejection } from "../helpers/expect-error";
import { RawPeer } from "../helpers/raw-peer";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

/** Length-delimited fields of a protobuf message by field number. */
function fieldsOf(bytes: Uint8Array): Map<number, Uint8Array[]> {
  const r = new BinaryReader(bytes);
  const out = new Map<number, Uint8Array[]>();
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (wire === 2) out.set(field, [...(out.get(field) ?? []), r.bytes()]);
    else r.skip(wire);
  }
  return out;
}

describe("owner and adapter sockets, files and modes (issue 9, real daemon)", () => {
  let t: TestDaemon;
  afterEach(async () => {
    await t?.stop();
  });

  describe("two sockets, two roles", () => {
    it("serves only DmAccessService on adapter.sock (0660, the daemon's group) and refuses every owner RPC", async () => {
      t = await startTestDaemon();
      const adapterPath = t.daemon.adapterSocketPath;
      expect(adapterPath).to.equal(join(t.home, "adapter.sock"));
      const st = lstatSync(adapterPath);
      expect(st.isSocket()).to.equal(true);
      expect(st.mode & 0o777).to.equal(0o660);
      expect(st.gid).to.equal(process.getgid!());
      expect(lstatSync(t.daemon.socketPath).mode & 0o777).to.equal(0o600);

      const peer = await RawPeer.connectUnix(adapterPath);
      try {
        const ownerMethods = [DmPairingServiceService, NodeAdminServiceService, AdminServiceService].flatMap((s) =>
          Object.values(s).map((m) => m.path),
        );
        expect(ownerMethods).to.have.length.greaterThan(15);
        for (const path of ownerMethods) {
          const r = await peer.start(path, new Uint8Array()).done;
          expect([status.UNIMPLEMENTED, status.PERMISSION_DENIED], path).to.include(r.code);
        }
        // The adapter's own calls work there.
        const adapter = new PairgateClient({ socketPath: adapterPath });
        try {
          const v = await adapter.dmAccess.checkInbound({ channel: "telegram", senderId: "123" });
          expect(v.decision).to.equal(Decision.DECISION_PAIRING_REQUIRED);
          // A compromised adapter holding a real code still cannot approve it.
          const err = await adapter.dmPairing.approvePairingCode({ channel: "telegram", code: v.pairingCode }).catch((e: unknown) => e);
          expect((err as { grpcCode?: number }).grpcCode).to.be.oneOf([status.UNIMPLEMENTED, status.PERMISSION_DENIED]);
          expect((err as Error).message).to.match(/served only on the operator socket/);
          expect((await t.client.dmPairing.listPairingRequests({ channel: "telegram" })).requests).to.have.length(1);
        } finally {
          adapter.close();
        }

        // Health knows only DmAccessService; reflection lists no other pairgate service or file.
        const health = (service: string) => {
          const w = new BinaryWriter();
          w.tag(1, WireType.LengthDelimited).string(service);
          return peer.start("/grpc.health.v1.Health/Check", w.finish()).done;
        };
        expect((await health("pairgate.v1.DmAccessService")).code).to.equal(status.OK);
        expect((await health("pairgate.v1.DmPairingService")).code).to.equal(status.NOT_FOUND);
        const ask = async (field: number, value: string): Promise<Buffer> => {
          const w = new BinaryWriter();
          w.tag(field, WireType.LengthDelimited).string(value);
          const r = await peer.start("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", w.finish()).done;
          expect(r.code).to.equal(status.OK);
          return r.messages[0]!;
        };
        const services = fieldsOf(fieldsOf(await ask(7, "")).get(6)![0]!)
          .get(1)!
          .map((s) => new TextDecoder().decode(fieldsOf(s).get(1)![0]));
        expect(services.filter((s) => s.startsWith("pairgate."))).to.deep.equal(["pairgate.v1.DmAccessService"]);
        for (const symbol of ["pairgate.v1.DmPairingService", "pairgate.v1.NodeAdminService", "pairgate.v1.AdminService"]) {
          expect(fieldsOf(await ask(4, symbol)).has(4), symbol).to.equal(false);
        }
        const files = fieldsOf(fieldsOf(await ask(4, "pairgate.v1.DmAccessService")).get(4)![0]!).get(1)!;
        expect(files.map((f) => new TextDecoder().decode(fieldsOf(f).get(1)![0]))).to.deep.equal(["pairgate/v1/dm_access_service.proto"]);
      } finally {
        peer.close();
      }
    });

    it("gives adapter.sock the configured group and restricts it to adapters.channels (reloadable)", async () => {
      const groups = process.getgroups!();
      const group = groups.find((g) => g !== process.getgid!()) ?? process.getgid!();
      t = await startTestDaemon({ config: { adapters: { socketGroup: group, channels: ["telegram"] } } });
      expect(lstatSync(t.daemon.adapterSocketPath).gid).to.equal(group);
      const adapter = new PairgateClient({ socketPath: t.daemon.adapterSocketPath });
      try {
        expect((await adapter.dmAccess.checkInbound({ channel: "telegram", senderId: "1" })).decision).to.equal(
          Decision.DECISION_PAIRING_REQUIRED,
        );
        const err = await expectRejection(adapter.dmAccess.checkInbound({ channel: "slack", senderId: "U1" }), PermissionDeniedError);
        expect(err.message).to.match(/channel slack is not served on this socket/);
        await expectRejection(adapter.dmAccess.ackNotification("n1.slack.default.0000019c00000000.0011aabb"), PermissionDeniedError);
        // The owner socket is not restricted.
        expect((await t.client.dmAccess.checkInbound({ channel: "slack", senderId: "U1" })).decision).to.equal(
          Decision.DECISION_PAIRING_REQUIRED,
        );
      } finally {
        adapter.close();
      }
    });

    it("applies adapters.channels and dm.maxPendingTotal on reload", async () => {
      const dir = tempDir();
      const configPath = join(dir.path, "config.json");
      writeFileSync(configPath, JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, adapters: { channels: ["telegram"] } }));
      const daemon = await startDaemon({ home: join(dir.path, "h"), configPath, logger: silentLogger });
      const adapter = new PairgateClient({ socketPath: daemon.adapterSocketPath });
      try {
        await expectRejection(adapter.dmAccess.checkInbound({ channel: "slack", senderId: "U1" }), PermissionDeniedError);
        writeFileSync(configPath, JSON.stringify({ nodes: { listen: "127.0.0.1:0" }, dm: { maxPendingTotal: 1 } }));
        expect(daemon.reload()).to.include({ ok: true });
        expect((await adapter.dmAccess.checkInbound({ channel: "slack", senderId: "U1" })).pairingCode).to.have.length(8);
        const full = await adapter.dmAccess.checkInbound({ channel: "discord", senderId: "1" });
        expect(full.reason).to.match(/dm.maxPendingTotal/);
      } finally {
        adapter.close();
        await daemon.stop();
        dir.cleanup();
      }
    });

    it("refuses an unknown adapters.socketGroup and a group the daemon is not in, with a clear message", async () => {
      const dir = tempDir();
      try {
        const config = parseConfig({ nodes: { listen: "127.0.0.1:0" }, adapters: { socketGroup: "no-such-group-pg" } });
        const err = await startDaemon({ home: dir.path, config, logger: silentLogger }).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(DaemonStartError);
        expect((err as Error).message).to.match(/adapters.socketGroup "no-such-group-pg" .* is not a group/);
        if (process.getuid!() !== 0) {
          const foreign = parseConfig({ nodes: { listen: "127.0.0.1:0" }, adapters: { socketGroup: 4_000_000 } });
          const err2 = await startDaemon({ home: dir.path, config: foreign, logger: silentLogger }).catch((e: unknown) => e);
          expect(err2).to.be.instanceOf(DaemonStartError);
          expect((err2 as Error).message).to.match(/not a member of that group/);
        }
      } finally {
        dir.cleanup();
      }
    });
  });

  describe("files and sockets", () => {
    it("runs with db/ 0700 and its files 0600, and repairs wrong modes at start", async () => {
      t = await startTestDaemon();
      const home = t.home;
      const check = (): void => {
        expect(statSync(home).mode & 0o777).to.equal(0o700);
        expect(statSync(join(home, "db")).mode & 0o777).to.equal(0o700);
        for (const f of readdirSync(join(home, "db"))) {
          const st = lstatSync(join(home, "db", f));
          if (st.isFile()) expect(st.mode & 0o777, f).to.equal(0o600);
        }
      };
      check();
      await t.daemon.stop();
      chmodSync(home, 0o755);
      chmodSync(join(home, "db"), 0o755);
      for (const f of readdirSync(join(home, "db"))) chmodSync(join(home, "db", f), 0o644);
      const again = await startTestDaemon({ home });
      try {
        check();
      } finally {
        await again.stop();
      }
    });

    it("refuses to start when a file with wrong modes belongs to another user, naming it and the fix", async () => {
      const dir = tempDir();
      try {
        const home = join(dir.path, "h");
        const config = parseConfig({ nodes: { listen: "127.0.0.1:0" } });
        let foreign: string;
        if (process.getuid!() === 0) {
          // As root: a db file handed to another uid with mode 0644.
          await (await startDaemon({ home, config, logger: silentLogger })).stop();
          foreign = join(home, "db", readdirSync(join(home, "db")).find((f) => f.startsWith("MANIFEST"))!);
          chmodSync(foreign, 0o644);
          chownSync(foreign, 4242, 4242);
          const err = await startDaemon({ home, config, logger: silentLogger }).catch((e: unknown) => e);
          expect(err).to.be.instanceOf(DaemonStartError);
          expect((err as Error).message).to.include(`${foreign} has mode 0644 and is owned by uid 4242, not by pairgate's user (uid 0)`);
          expect((err as Error).message).to.include(`chmod 0600 ${foreign}`);
          expect(statSync(foreign).mode & 0o777).to.equal(0o644); // not touched
        } else {
          // As another user: a root-owned, world-readable "key" (never chmod-ed: not ours).
          const tls = parseConfig({ nodes: { listen: "127.0.0.1:0", tls: { key: "/etc/passwd", cert: "/etc/passwd" } } });
          const err = await startDaemon({ home, config: tls, logger: silentLogger }).catch((e: unknown) => e);
          expect(err).to.be.instanceOf(DaemonStartError);
          expect((err as Error).message).to.match(/nodes.tls key \/etc\/passwd has mode 0644 and is owned by uid 0/);
        }
      } finally {
        dir.cleanup();
      }
    });

    it("refuses a socketPath that is a regular file and leaves the file alone", async () => {
      const dir = tempDir();
      try {
        const target = join(dir.path, "precious.txt");
        writeFileSync(target, "keep me");
        const config = parseConfig({ nodes: { listen: "127.0.0.1:0" }, socketPath: target });
        const err = await startDaemon({ home: join(dir.path, "h"), config, logger: silentLogger }).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(DaemonStartError);
        expect((err as Error).message).to.include(`${target} (socketPath) exists and is a regular file, not a stale socket`);
        expect(readFileSync(target, "utf8")).to.equal("keep me");
        mkdirSync(join(dir.path, "h2"));
        const adapterFile = join(dir.path, "h2", "adapter.sock");
        writeFileSync(adapterFile, "x");
        const err2 = await startDaemon({ home: join(dir.path, "h2"), config: parseConfig({ nodes: { listen: "127.0.0.1:0" } }), logger: silentLogger }).catch(
          (e: unknown) => e,
        );
        expect((err2 as Error).message).to.include("(adapters.socketPath) exists and is a regular file");
        expect(readFileSync(adapterFile, "utf8")).to.equal("x");
      } finally {
        dir.cleanup();
      }
    });
  });
});
