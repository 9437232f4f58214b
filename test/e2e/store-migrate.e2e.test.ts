import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { Decision, PairgateClient } from "../../clients/ts";
import { bulkLoad } from "../../bench/bulk-load";
import { STORAGE_URL_ENV } from "../../src/config/storage";
import { MIGRATION_KEY, NODE_TLS_KEY } from "../../src/daemon-store";
import { GATEWAY_IDENTITY_KEY, gatewayIdentityOf } from "../../src/domain/gateway-identity";
import { INSTANCE_KEY_PREFIX } from "../../src/domain/instance-registry";
import { LevelStore } from "../../src/storage/level-store";
import { PostgresStore } from "../../src/storage/postgres-store";
import { until } from "../helpers/child";
import { freshDatabase, withPostgres } from "../helpers/postgres";
import { nodeSeed, startSharedDaemon } from "../helpers/shared-daemons";
import { tempDir } from "../helpers/temp-dir";
import { TestNode } from "../helpers/test-node";
import { CLI, pairgate, serve, type ServeProcess } from "./cli";

/**
 * Issue 12: `pairgate store migrate --to URL|level` copies the embedded store to PostgreSQL and back
 * (built CLI and daemons as subprocesses, a real PostgreSQL). What was approved, paired and revoked
 * survives each move; the copy left behind is marked stale and no daemon serves it again.
 */
const CONFIG = { nodes: { listen: "127.0.0.1:0" } };
const CHANNEL = "telegram";

/** A running daemon of these tests with its operator and adapter clients. */
interface Running {
  proc: ServeProcess;
  operator: PairgateClient;
  adapter: PairgateClient;
  nodeAddress: string;
  stop(): Promise<void>;
}

async function start(home: string, env: Record<string, string> = {}): Promise<Running> {
  const proc = await serve(home, [], env);
  expect(proc.stderr(), "daemon start").to.include("pairgate daemon listening on");
  const operator = new PairgateClient({ socketPath: join(home, "pairgate.sock") });
  const adapter = new PairgateClient({ socketPath: join(home, "adapter.sock") });
  const nodeAddress = (await operator.admin.getDaemonStatus()).nodeListenAddress;
  return {
    proc,
    operator,
    adapter,
    nodeAddress,
    stop: async () => {
      operator.close();
      adapter.close();
      proc.child.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** `pairgate serve` that must refuse: returns its stderr. */
async function refusal(home: string, env: Record<string, string> = {}): Promise<string> {
  const proc = await serve(home, [], env);
  const code = await proc.exited;
  expect(code, proc.stderr()).to.equal(1);
  expect(proc.stderr()).to.not.match(/\n\s+at /);
  return proc.stderr();
}

async function decision(d: Running, senderId: string): Promise<Decision> {
  return (await d.adapter.dmAccess.checkInbound({ channel: CHANNEL, senderId })).decision;
}

/** A PostgreSQL store opened by the test itself (not counted as a daemon session). */
function inspect(url: string): Promise<PostgresStore> {
  return PostgresStore.open({ url, applicationName: "pairgate-test", poolSize: 2 });
}

withPostgres("pairgate store migrate (built CLI, real PostgreSQL)", () => {
  describe("pairgate store migrate (built CLI, real PostgreSQL)", function () {
    this.timeout(120_000);
    let dir: { path: string; cleanup: () => void };
    let home: string;
    beforeEach(() => {
      dir = tempDir("mig-");
      home = join(dir.path, "h");
      mkdirSync(home, { mode: 0o700 });
      writeFileSync(join(home, "config.json"), JSON.stringify(CONFIG));
    });
    afterEach(() => dir.cleanup());

    const migrate = (args: string[], env: Record<string, string> = {}) => pairgate(["store", "migrate", ...args], { PAIRGATE_HOME: home, ...env });

    it("moves an embedded store to PostgreSQL and back, keeping approvals, revocations, paired nodes, the gateway id and the TLS key", async function () {
      const url = await freshDatabase();
      const pgEnv = { [STORAGE_URL_ENV]: url };

      // 1. On the embedded store: one approved sender, one paired node, an auto-TLS key on disk.
      let d = await start(home);
      const seed = nodeSeed();
      const node = new TestNode(d.nodeAddress, seed);
      await node.init();
      const gatewayId = node.gatewayId;
      const req = await node.requestPairing();
      await d.operator.nodeAdmin.approveNode(req.requestId);
      const token = await node.claim();
      await node.authenticate(token);
      node.close();
      await d.operator.dmPairing.addAllowedSender({ channel: CHANNEL, senderId: "1001" });
      expect(await decision(d, "1001")).to.equal(Decision.DECISION_ALLOW);
      await d.stop();
      mkdirSync(join(home, "node-tls"), { mode: 0o700 });
      const tlsKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
      writeFileSync(join(home, "node-tls", "key.pem"), tlsKey, { mode: 0o600 });

      // 2. Migrate to PostgreSQL: everything arrives and is verified; the embedded copy is now stale.
      const toPg = await migrate(["--to", url, "--json"]);
      expect(toPg.code, toPg.stderr).to.equal(0);
      const result = JSON.parse(toPg.stdout) as { gatewayId: string; counts: Record<string, number>; tlsKey: string; problemCount: number; to: string };
      expect(result.gatewayId).to.equal(gatewayId);
      expect(result.counts.dmAllow).to.equal(1);
      expect(result.counts.nodes).to.equal(1);
      expect(result.tlsKey).to.equal("copied");
      expect(result.problemCount).to.equal(0);
      const pg = await inspect(url);
      try {
        expect(await pg.get("meta", NODE_TLS_KEY)).to.equal(tlsKey);
        expect(gatewayIdentityOf(await pg.get("meta", GATEWAY_IDENTITY_KEY)).gatewayId).to.equal(gatewayId);
        expect(await pg.get("meta", MIGRATION_KEY)).to.equal(undefined);
      } finally {
        await pg.close();
      }
      const stale = await refusal(home);
      expect(stale).to.include("was migrated to PostgreSQL");
      expect(stale).to.include("is stale");
      expect(stale).to.include("pairgate store migrate --to level");

      // 3. The daemon on PostgreSQL is the same gateway: the node's old token works, the sender is allowed.
      d = await start(home, pgEnv);
      const again = await new TestNode(d.nodeAddress, seed).init();
      expect(again.gatewayId).to.equal(gatewayId);
      expect(await again.authenticate(token)).to.match(/^pgs_/);
      again.close();
      expect(await decision(d, "1001")).to.equal(Decision.DECISION_ALLOW);
      // Changes made on PostgreSQL: one sender added, the first revoked.
      await d.operator.dmPairing.addAllowedSender({ channel: CHANNEL, senderId: "2002" });
      await d.operator.dmPairing.revokeAllowedSender({ channel: CHANNEL, senderId: "1001" });
      await d.stop();

      // 4. Back to the embedded store: the stale database is moved aside, PostgreSQL's state comes home
      // (but not the record a SIGKILLed daemon would leave behind in the store).
      const before = await inspect(url);
      try {
        await before.transact("t", async (tx) => tx.put("meta", `${INSTANCE_KEY_PREFIX}dead`, { instanceId: "dead" }, { expiresAtMs: Date.now() + 30_000 }));
      } finally {
        await before.close();
      }
      const back = await migrate(["--to", "level"], pgEnv);
      expect(back.code, back.stderr).to.equal(0);
      expect(back.stdout).to.include("verified every one");
      expect(back.stdout).to.match(/moved to .*db\.migrated-/);
      expect(back.stdout).to.include("unset PAIRGATE_STORAGE_URL");
      const pgStale = await refusal(home, pgEnv);
      expect(pgStale).to.include("was migrated to the embedded store");
      expect(readFileSync(join(home, "node-tls", "key.pem"), "utf8")).to.equal(tlsKey);
      const level = await LevelStore.open(join(home, "db"), { createIfMissing: false });
      try {
        const metaKeys: string[] = [];
        for await (const [key] of level.rawEntries()) if (key.startsWith("!meta!")) metaKeys.push(key.slice("!meta!".length));
        expect(metaKeys).to.include(GATEWAY_IDENTITY_KEY);
        expect(metaKeys.filter((k) => k.startsWith(INSTANCE_KEY_PREFIX)), "instance records stay behind").to.deep.equal([]);
      } finally {
        await level.close();
      }

      d = await start(home);
      try {
        expect(await decision(d, "2002")).to.equal(Decision.DECISION_ALLOW);
        expect(await decision(d, "1001"), "a revocation made on PostgreSQL is not undone by the move back").to.equal(Decision.DECISION_PAIRING_REQUIRED);
        const last = await new TestNode(d.nodeAddress, seed).init();
        expect(last.gatewayId).to.equal(gatewayId);
        expect(await last.authenticate(token)).to.match(/^pgs_/);
        last.close();
      } finally {
        await d.stop();
      }
    });

    it("refuses while a daemon runs, into a PostgreSQL store in use or holding another gateway, and over a live embedded store without --force; nothing changes", async function () {
      const url = await freshDatabase();
      const d = await start(home);
      const running = await migrate(["--to", url]);
      expect(running.code).to.equal(1);
      expect(running.stderr).to.include("the daemon is running");
      await d.stop();

      const other = await startSharedDaemon("other", url, {});
      try {
        const inUse = await migrate(["--to", url]);
        expect(inUse.code).to.equal(1);
        expect(inUse.stderr).to.match(/pairgate daemon connections are open to PostgreSQL/);
      } finally {
        await other.stop();
      }
      await until(async () => {
        const pg = await inspect(url);
        try {
          return (await pg.daemonSessions()) === 0 ? true : undefined;
        } finally {
          await pg.close();
        }
      }, "the other daemon's sessions to close", 10_000);
      const occupied = await migrate(["--to", url]);
      expect(occupied.code).to.equal(1);
      expect(occupied.stderr).to.match(/already holds a pairgate store \(gateway [0-9a-f]+\)/);
      expect(occupied.stderr).to.include("Nothing was changed");
      const marker = JSON.parse(readFileSync(join(home, "store.json"), "utf8")) as Record<string, unknown>;
      expect(marker.migratedTo, "the source is not marked stale by a refused migration").to.equal(undefined);

      // The embedded store is live: migrating PostgreSQL's store over it needs --force (and keeps it).
      const overLive = await migrate(["--to", "level"], { [STORAGE_URL_ENV]: url });
      expect(overLive.code).to.equal(1);
      expect(overLive.stderr).to.include("--force");
      const forced = await migrate(["--to", "level", "--force", "--json"], { [STORAGE_URL_ENV]: url });
      expect(forced.code, forced.stderr).to.equal(0);
      const moved = (JSON.parse(forced.stdout) as { movedAside: string }).movedAside;
      expect(moved).to.match(/db\.before-migrate-/);
      expect(existsSync(join(moved, "CURRENT"))).to.equal(true);

      const usage = await migrate(["--to", "mysql://x"]);
      expect(usage.code).to.equal(2);
      const same = await migrate(["--to", "level"]);
      expect(same.code).to.equal(1);
      expect(same.stderr).to.include("nothing to migrate");
    });

    it("leaves an interrupted copy marked unfinished: no daemon starts on it, and running the migration again finishes it", async function () {
      const url = await freshDatabase();
      const { gatewayId } = await bulkLoad(home, 100_000, 10);

      // SIGKILL the migration once the first rows have reached PostgreSQL.
      const child = spawn(process.execPath, [CLI, "store", "migrate", "--to", url], { env: { ...process.env, PAIRGATE_HOME: home }, stdio: "ignore" });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      const pg = await inspect(url);
      try {
        await until(async () => {
          for await (const _ of pg.entries("dmAllow", { limit: 1 })) return true;
          return undefined;
        }, "the copy to start", 30_000);
        child.kill("SIGKILL");
        await exited;
        expect(await pg.get("meta", MIGRATION_KEY), "the unfinished mark").to.not.equal(undefined);
      } finally {
        await pg.close();
      }
      const unfinished = await refusal(home, { [STORAGE_URL_ENV]: url });
      expect(unfinished).to.include("holds an unfinished copy from the embedded store");

      const again = await migrate(["--to", url, "--json"]);
      expect(again.code, again.stderr).to.equal(0);
      const r = JSON.parse(again.stdout) as { cleared: number; counts: Record<string, number>; gatewayId: string };
      expect(r.cleared).to.be.greaterThan(0);
      expect(r.counts.dmAllow).to.equal(100_000);
      expect(r.counts.nodes).to.equal(10);
      expect(r.gatewayId).to.equal(gatewayId);
      const on = await start(home, { [STORAGE_URL_ENV]: url });
      try {
        expect((await on.operator.admin.getStoreStatus()).gatewayId).to.equal(gatewayId);
        expect((await on.operator.nodeAdmin.listNodes({ pageSize: 100 })).nodes).to.have.length(10);
      } finally {
        await on.stop();
      }
    });
  });
});

