import { expect } from "chai";
import { join } from "node:path";
import { MemoryLevel } from "memory-level";
import pg from "pg";
import { InvalidArgumentError, UnavailableError } from "../../src/domain/errors";
import type { FeedEvent, SharedStore } from "../../src/domain/shared-store";
import { scopeKey, prefixEnd } from "../../src/domain/store";
import { LevelSharedStore } from "../../src/storage/level-shared-store";
import type { AbstractDb } from "../../src/storage/level-store";
import { PG_SCHEMA_VERSION } from "../../src/storage/postgres-schema";
import { PostgresStore } from "../../src/storage/postgres-store";
import { expectRejection } from "../helpers/expect-error";
import { freshDatabase, sharedPostgres, withPostgres } from "../helpers/postgres";
import { tempDir } from "../helpers/temp-dir";

/**
 * One store under test: `a` and `b` are two instances over the same data. On PostgreSQL they are two
 * PostgresStore objects (two "daemons" with their own pools and feed connections); the embedded store
 * is single-process, so there `b` is `a`. `tenant(name)` opens another instance for a tenant.
 */
interface Fixture {
  a: SharedStore;
  b: SharedStore;
  tenant(name: string): Promise<SharedStore>;
  close(): Promise<void>;
}

interface Kind {
  name: string;
  open(): Promise<Fixture>;
}

const memoryKind: Kind = {
  name: "memory-level",
  open: async () => {
    const db = new MemoryLevel<string, unknown>({ valueEncoding: "json" }) as unknown as AbstractDb;
    const a = await LevelSharedStore.fromDb(db);
    const opened: SharedStore[] = [a];
    return {
      a,
      b: a,
      tenant: async (name) => {
        const t = await LevelSharedStore.fromDb(db, { tenant: name });
        opened.push(t);
        return t;
      },
      close: async () => void (await Promise.all(opened.map((s) => s.close()))),
    };
  },
};

const levelKind: Kind = {
  name: "LevelDB",
  open: async () => {
    const dir = tempDir();
    const a = await LevelSharedStore.open(join(dir.path, "db"));
    return {
      a,
      b: a,
      // One LevelDB directory per tenant store is the embedded equivalent; tenant isolation inside one
      // database is covered by memory-level (same adapter code).
      tenant: (name) => LevelSharedStore.open(join(dir.path, `db-${name}`), { tenant: name }),
      close: async () => {
        await a.close();
        dir.cleanup();
      },
    };
  },
};

const postgresKind: Kind = {
  name: "PostgreSQL",
  open: async () => {
    const url = await freshDatabase();
    const opened: SharedStore[] = [];
    const open = async (tenant = ""): Promise<SharedStore> => {
      const s = await PostgresStore.open({ url, tenant });
      opened.push(s);
      return s;
    };
    const a = await open();
    const b = await open();
    return { a, b, tenant: open, close: async () => void (await Promise.all(opened.map((s) => s.close()))) };
  },
};

const allow = (n: number): { approvedAtMs: number; via: "added"; meta: Record<string, string> } => ({ approvedAtMs: n, via: "added", meta: {} });
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function collect<V>(it: AsyncIterable<[string, V]>): Promise<Array<[string, V]>> {
  const out: Array<[string, V]> = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Waits until `cond()` holds (polling), or fails after `ms`. */
async function eventually(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function contract(kind: Kind): void {
  describe(`SharedStore contract on ${kind.name}`, function () {
    this.timeout(60_000);
    let f: Fixture;
    beforeEach(async () => {
      f = await kind.open();
    });
    afterEach(async () => {
      await f.close();
    });

    it("round-trips JSON values exactly", async () => {
      const values: unknown[] = [
        { nested: { list: [1, 2.5, -3e-7, "x"], t: true, f: false, n: null }, emoji: "🔐 é 中", big: 2 ** 52 + 1 },
        [],
        "plain",
        0,
        false,
      ];
      await f.a.transact("v", async (tx) => values.forEach((v, i) => tx.put("meta", `k${i}`, v)));
      for (const [i, v] of values.entries()) expect(await f.b.get("meta", `k${i}`)).to.deep.equal(v);
      expect(await f.b.get("meta", "absent")).to.equal(undefined);
    });

    it("refuses values that would not round-trip everywhere (NUL in a string, undefined, bare null) and commits nothing", async () => {
      await expectRejection(f.a.transact("v", async (tx) => {
        tx.put("meta", "ok", 1);
        tx.put("meta", "bad", { s: "a\u0000b" });
      }), InvalidArgumentError);
      await expectRejection(f.a.transact("v", async (tx) => tx.put("meta", "bad", undefined)), InvalidArgumentError);
      await expectRejection(f.a.transact("v", async (tx) => tx.put("meta", "bad", null)), InvalidArgumentError);
      expect(await f.a.get("meta", "ok")).to.equal(undefined);
    });

    it("keeps keys with NUL bytes apart and scans one scope prefix in bytewise order", async () => {
      const a = scopeKey("telegram", "a");
      const ab = scopeKey("telegram", "ab");
      const keys = [a + "2", a + "1", a + "\u00e9", a + "\uffff", a + "😀", a + "z", ab + "0", "telegram"];
      await f.a.transact("s", async (tx) => keys.forEach((k, i) => tx.put("dmAllow", k, allow(i))));
      const scope = await collect(f.b.entries("dmAllow", { gte: a, lt: prefixEnd(a) }));
      // UTF-8 byte order: "1" < "2" < "z" < "é" (C3 A9) < U+FFFF (EF BF BF) < 😀 (F0 …).
      expect(scope.map(([k]) => k)).to.deep.equal([a + "1", a + "2", a + "z", a + "\u00e9", a + "\uffff", a + "😀"]);
      expect(scope[0]![1]).to.deep.equal(allow(1));
      const reversed = await collect(f.b.entries("dmAllow", { gt: a + "1", lte: a + "\uffff", reverse: true, limit: 2 }));
      expect(reversed.map(([k]) => k)).to.deep.equal([a + "\uffff", a + "\u00e9"]);
      expect(await f.b.get("dmAllow", "telegram")).to.deep.equal(allow(7));
    });

    it("pages through a range larger than one fetch without losing or repeating keys", async () => {
      const p = scopeKey("slack", "default");
      await f.a.transact("s", async (tx) => {
        for (let i = 0; i < 600; i++) tx.put("dmAllow", p + String(i).padStart(4, "0"), allow(i));
      });
      const all = await collect(f.b.entries("dmAllow", { gte: p, lt: prefixEnd(p) }));
      expect(all.length).to.equal(600);
      expect(all.map(([k]) => k)).to.deep.equal([...Array(600).keys()].map((i) => p + String(i).padStart(4, "0")));
      expect((await collect(f.b.entries("dmAllow", { gte: p, lt: prefixEnd(p), limit: 300, reverse: true })))[299]![0]).to.equal(p + "0300");
    });

    it("shows a transaction its own writes (get and entries) before the commit, and others only after", async () => {
      const p = scopeKey("signal", "default");
      await f.a.transact("s", async (tx) => ["1", "2", "3"].forEach((k) => tx.put("dmAllow", p + k, allow(Number(k)))));
      let outside: unknown = "unset";
      await f.a.transact("s", async (tx) => {
        tx.put("dmAllow", p + "0", allow(0));
        tx.del("dmAllow", p + "2");
        tx.put("dmAllow", p + "3", allow(33));
        expect(await tx.get("dmAllow", p + "0")).to.deep.equal(allow(0));
        expect(await tx.get("dmAllow", p + "2")).to.equal(undefined);
        const seen = await collect(tx.entries("dmAllow", { gte: p, lt: prefixEnd(p) }));
        expect(seen).to.deep.equal([[p + "0", allow(0)], [p + "1", allow(1)], [p + "3", allow(33)]]);
        expect((await collect(tx.entries("dmAllow", { gte: p, lt: prefixEnd(p), limit: 2, reverse: true }))).map(([k]) => k)).to.deep.equal([p + "3", p + "1"]);
        outside = await f.b.get("dmAllow", p + "0");
      });
      expect(outside).to.equal(undefined);
      expect(await f.b.get("dmAllow", p + "0")).to.deep.equal(allow(0));
      expect(await f.b.get("dmAllow", p + "2")).to.equal(undefined);
    });

    it("commits nothing when fn throws, and rethrows the same error", async () => {
      const boom = new Error("boom");
      let feed = 0;
      const sub = f.b.subscribe("t/atomic", () => feed++);
      await sub.ready;
      const err = await expectRejection(
        f.a.transact("k", async (tx) => {
          tx.put("meta", "x", 1);
          tx.publish("t/atomic", { n: 1 });
          await tick();
          throw boom;
        }),
        Error,
      );
      expect(err).to.equal(boom);
      expect(await f.b.get("meta", "x")).to.equal(undefined);
      await f.a.transact("k", async (tx) => tx.publish("t/atomic", { n: 2 }));
      await eventually(() => feed === 1);
      sub.close();
    });

    it("serializes transactions of one lockKey across instances: 50 + 50 concurrent increments end at 100", async () => {
      const increment = (s: SharedStore): Promise<void> =>
        s.transact("counter", async (tx) => {
          const n = ((await tx.get("meta", "n")) as number | undefined) ?? 0;
          await tick();
          tx.put("meta", "n", n + 1);
        });
      await Promise.all([...Array(50)].flatMap(() => [increment(f.a), increment(f.b)]));
      expect(await f.a.get("meta", "n")).to.equal(100);
    });

    it("holds a second lock taken with tx.lock until the transaction ends, across instances", async () => {
      // Transactions under "scope-1" or "scope-2" each take "global" second: 30 + 30 increments of one
      // counter guarded only by "global" end at 60, so tx.lock excluded the other instance's holders.
      const increment = (s: SharedStore, scope: string): Promise<void> =>
        s.transact(scope, async (tx) => {
          await tx.lock("global");
          await tx.lock("global"); // taking a held lock again is a no-op
          const n = ((await tx.get("meta", "g")) as number | undefined) ?? 0;
          await tick();
          tx.put("meta", "g", n + 1);
        });
      await Promise.all([...Array(30)].flatMap(() => [increment(f.a, "scope-1"), increment(f.b, "scope-2")]));
      expect(await f.a.get("meta", "g")).to.equal(60);
      // Released at the end, also after a throw: a plain transaction of "global" runs at once.
      await f.a.transact("scope-1", async (tx) => {
        await tx.lock("global");
        throw new Error("boom");
      }).catch(() => undefined);
      await f.b.transact("global", async (tx) => tx.put("meta", "g", 0));
      expect(await f.a.get("meta", "g")).to.equal(0);
    });

    it("runs afterCommit callbacks once the transaction has committed, and never for one that failed", async () => {
      const seen: string[] = [];
      await f.a.transact("cb", async (tx) => {
        tx.put("meta", "cb", 1);
        tx.afterCommit(() => seen.push("after commit"));
        seen.push("in fn");
      });
      expect(seen).to.deep.equal(["in fn", "after commit"]);
      await f.a
        .transact("cb", async (tx) => {
          tx.afterCommit(() => seen.push("must not run"));
          throw new Error("boom");
        })
        .catch(() => undefined);
      // A callback that throws does not undo the commit.
      await f.b.transact("cb", async (tx) => {
        tx.put("meta", "cb", 2);
        tx.afterCommit(() => {
          throw new Error("ignored");
        });
      });
      expect(seen).to.not.include("must not run");
      expect(await f.a.get("meta", "cb")).to.equal(2);
    });

    it("lets exactly one concurrent take get each record, across instances", async () => {
      await f.a.transact("n", async (tx) => {
        for (let i = 0; i < 20; i++) tx.put("meta", `nonce${i}`, { i }, { expiresAtMs: 10_000 + i });
      });
      const takes = [...Array(20).keys()].flatMap((i) => [f.a.take("meta", `nonce${i}`), f.b.take("meta", `nonce${i}`), f.a.take("meta", `nonce${i}`)]);
      const got = (await Promise.all(takes)).filter((r) => r !== undefined);
      expect(got.map((r) => (r!.value as { i: number }).i).sort((x, y) => x - y)).to.deep.equal([...Array(20).keys()]);
      expect(got[0]!.expiresAtMs).to.be.a("number");
      expect(await f.b.get("meta", "nonce3")).to.equal(undefined);
      expect(await f.b.take("meta", "nonce3")).to.equal(undefined);
    });

    it("makes take wait for a transaction holding the record's lock and take what it committed", async () => {
      await f.a.putIfAbsent("meta", "code", { v: 1 }, { lockKey: "scope" });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const tx = f.a.transact("scope", async (t) => {
        const v = (await t.get("meta", "code")) as { v: number };
        await gate;
        t.put("meta", "code", { v: v.v + 1 });
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const taken = f.b.take("meta", "code", { lockKey: "scope" });
      release();
      await tx;
      expect((await taken)?.value).to.deep.equal({ v: 2 });
    });

    it("makes a transaction that only writes wait for the lock's holder, whose later write it then replaces", async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const holder = f.a.transact("w", async (t) => {
        await t.get("meta", "w"); // a reading transaction: holds "w" from here on
        await gate;
        t.put("meta", "w", "holder");
        t.put("meta", "w-del", "holder");
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      let writerDone = false;
      const writer = f.b
        .transact("w", async (t) => {
          t.put("meta", "w", "writer");
          t.del("meta", "w-del");
        })
        .then(() => (writerDone = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(writerDone, "the write-only transaction waited for the lock").to.equal(false);
      release();
      await Promise.all([holder, writer]);
      expect(await f.a.get("meta", "w")).to.equal("writer");
      expect(await f.a.get("meta", "w-del"), "the row the holder inserted is deleted").to.equal(undefined);
    });

    it("creates with putIfAbsent exactly once under concurrency and returns the stored value to everyone", async () => {
      const results = await Promise.all([...Array(10).keys()].map((i) => (i % 2 === 0 ? f.a : f.b).putIfAbsent("meta", "gateway_identity", { who: i })));
      const created = results.filter((r) => r.created);
      expect(created.length).to.equal(1);
      for (const r of results) expect(r.value).to.deep.equal(created[0]!.value);
      expect(await f.b.get("meta", "gateway_identity")).to.deep.equal(created[0]!.value);
    });

    it("records expiry, clears it on a plain put, and sweeps each due record exactly once across instances", async () => {
      await f.a.transact("x", async (tx) => {
        for (let i = 0; i < 30; i++) tx.put("nodeRequests", `r${String(i).padStart(2, "0")}`, { i } as never, { expiresAtMs: 100 + i * 10 });
        tx.put("nodeRequests", "forever", { i: -1 } as never);
      });
      expect((await f.a.getRecord("nodeRequests", "r00"))?.expiresAtMs).to.equal(100);
      expect((await f.a.getRecord("nodeRequests", "forever"))?.expiresAtMs).to.equal(undefined);
      // r05 is made permanent, r06 pushed past `now`: neither may be swept.
      await f.a.transact("x", async (tx) => {
        tx.put("nodeRequests", "r05", { i: 5 } as never);
        tx.put("nodeRequests", "r06", { i: 6 } as never, { expiresAtMs: 5_000 });
      });
      const now = 100 + 19 * 10; // r00..r19 are due
      const events: FeedEvent[] = [];
      const sub = f.a.subscribe("nodes/expired", (e) => events.push(e));
      await sub.ready;
      const sweepWith = (s: SharedStore): Promise<Array<[string, unknown]>> =>
        s.sweep("nodeRequests", now, 7, {
          lockKeyOf: () => "nodes",
          onDelete: (tx, key) => tx.publish("nodes/expired", { key }),
        });
      const swept: string[] = [];
      for (let round = 0; round < 5; round++) {
        const [x, y] = await Promise.all([sweepWith(f.a), sweepWith(f.b)]);
        swept.push(...x.map(([k]) => k), ...y.map(([k]) => k));
      }
      const expected = [...Array(20).keys()].filter((i) => i !== 5 && i !== 6).map((i) => `r${String(i).padStart(2, "0")}`);
      expect([...swept].sort()).to.deep.equal(expected);
      expect(await f.a.get("nodeRequests", "r20")).to.deep.equal({ i: 20 });
      expect(await f.a.get("nodeRequests", "r05")).to.deep.equal({ i: 5 });
      await eventually(() => events.length === expected.length);
      expect(events.map((e) => (e.event as { key: string }).key).sort()).to.deep.equal(expected);
      sub.close();
    });

    it("delivers published events after commit, in commit order, to subscribers of every instance", async () => {
      const atA: FeedEvent[] = [];
      const atB: FeedEvent[] = [];
      const other: FeedEvent[] = [];
      const subs = [f.a.subscribe("dm/telegram", (e) => atA.push(e)), f.b.subscribe("dm/telegram", (e) => atB.push(e)), f.b.subscribe("dm/slack", (e) => other.push(e))];
      await Promise.all(subs.map((s) => s.ready));
      const writers = [f.a, f.b];
      await Promise.all(
        [...Array(40).keys()].map((i) =>
          writers[i % 2]!.transact(`lock${i % 4}`, async (tx) => {
            tx.put("meta", `n${i}`, i);
            await tick();
            tx.publish("dm/telegram", { i });
          }),
        ),
      );
      await eventually(() => atA.length === 40 && atB.length === 40);
      for (const seen of [atA, atB]) {
        const seqs = seen.map((e) => e.seq);
        expect(seqs).to.deep.equal([...seqs].sort((x, y) => x - y));
        expect(new Set(seqs).size).to.equal(40);
        expect(new Set(seen.map((e) => (e.event as { i: number }).i)).size).to.equal(40);
      }
      expect(atA.map((e) => e.seq)).to.deep.equal(atB.map((e) => e.seq));
      expect(other).to.deep.equal([]);
      subs.forEach((s) => s.close());
    });

    it("replays retained events after afterSeq, then continues live", async () => {
      for (let i = 0; i < 5; i++) await f.a.transact("k", async (tx) => tx.publish("resume", { i }));
      const first: FeedEvent[] = [];
      const s1 = f.b.subscribe("resume", (e) => first.push(e), { afterSeq: 0 });
      await s1.ready;
      await eventually(() => first.length === 5);
      s1.close();
      const resumed: FeedEvent[] = [];
      const s2 = f.b.subscribe("resume", (e) => resumed.push(e), { afterSeq: first[2]!.seq });
      await s2.ready;
      await f.a.transact("k", async (tx) => tx.publish("resume", { i: 5 }));
      await eventually(() => resumed.length === 3);
      expect(resumed.map((e) => (e.event as { i: number }).i)).to.deep.equal([3, 4, 5]);
      s2.close();
    });

    it("isolates tenants: records, scans and topics of one tenant are invisible to another", async () => {
      const t1 = await f.tenant("gw-one");
      const t2 = await f.tenant("gw-two");
      const heard: FeedEvent[] = [];
      const sub = t2.subscribe("dm", (e) => heard.push(e));
      await sub.ready;
      await t1.transact("k", async (tx) => {
        tx.put("dmAllow", "x\u0000a", allow(1));
        tx.publish("dm", { from: 1 });
      });
      await t2.transact("k", async (tx) => tx.put("dmAllow", "x\u0000b", allow(2)));
      expect(await t2.get("dmAllow", "x\u0000a")).to.equal(undefined);
      expect((await collect(t1.entries("dmAllow", {}))).map(([k]) => k)).to.deep.equal(["x\u0000a"]);
      expect((await collect(t2.entries("dmAllow", {}))).map(([k]) => k)).to.deep.equal(["x\u0000b"]);
      await t2.transact("k", async (tx) => tx.publish("dm", { from: 2 }));
      await eventually(() => heard.length === 1);
      expect(heard[0]!.event).to.deep.equal({ from: 2 });
      sub.close();
      await expectRejection(f.a.transact("", async () => undefined), InvalidArgumentError);
    });

    it("fails with UnavailableError once closed", async () => {
      const t = await f.tenant("closing");
      await t.close();
      await t.close();
      await expectRejection(t.get("meta", "x"), UnavailableError);
      await expectRejection(t.transact("k", async (tx) => tx.put("meta", "x", 1)), UnavailableError);
    });
  });
}

contract(memoryKind);
contract(levelKind);
withPostgres("SharedStore contract on PostgreSQL", () => {
  contract(postgresKind);
  postgresOnly();
});

function postgresOnly(): void {
  describe("PostgresStore on a real PostgreSQL", function () {
    this.timeout(60_000);

    it("migrates once when several instances open a fresh database at the same time", async () => {
      const url = await freshDatabase();
      const stores = await Promise.all([...Array(4)].map(() => PostgresStore.open({ url })));
      stores.push(await PostgresStore.open({ url })); // and once more, on a migrated database
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const versions = await client.query<{ version: number }>("SELECT version FROM pairgate_schema ORDER BY version");
        expect(versions.rows.map((r) => r.version)).to.deep.equal([PG_SCHEMA_VERSION]);
      } finally {
        await client.end();
      }
      await Promise.all(stores.map((s) => s.close()));
    });

    it("resumes the change feed from the events table after its LISTEN connection is killed", async () => {
      const url = await freshDatabase();
      const a = await PostgresStore.open({ url });
      const b = await PostgresStore.open({ url });
      try {
        const seen: FeedEvent[] = [];
        const sub = b.subscribe("nodes", (e) => seen.push(e));
        await sub.ready;
        await a.transact("n", async (tx) => tx.publish("nodes", { i: 0 }));
        await eventually(() => seen.length === 1);
        const c = await sharedPostgres();
        const db = url.slice(url.lastIndexOf("/") + 1);
        const killed = await c.admin(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pairgate-feed'",
          [db],
        );
        expect(killed.rowCount).to.equal(1);
        // Published while b's listener is down: delivered from the table after it reconnects.
        for (let i = 1; i <= 5; i++) await a.transact("n", async (tx) => tx.publish("nodes", { i }));
        await eventually(() => seen.length === 6);
        await a.transact("n", async (tx) => tx.publish("nodes", { i: 6 }));
        await eventually(() => seen.length === 7);
        expect(seen.map((e) => (e.event as { i: number }).i)).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
        sub.close();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it("reports an unreachable server as UnavailableError", async () => {
      const c = await sharedPostgres();
      await expectRejection(PostgresStore.open({ url: `postgres://pairgate@127.0.0.1:1/postgres`, connectTimeoutMs: 2_000 }), UnavailableError);
      expect(c.port).to.be.greaterThan(0);
    });

    it("keeps working after the server kills its pooled connections", async () => {
      const url = await freshDatabase();
      const a = await PostgresStore.open({ url });
      try {
        await a.transact("k", async (tx) => tx.put("meta", "x", 1));
        const c = await sharedPostgres();
        const db = url.slice(url.lastIndexOf("/") + 1);
        await c.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pairgate'", [db]);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await a.get("meta", "x")).to.equal(1);
      } finally {
        await a.close();
      }
    });

    it("prunes change-feed events past the retention", async () => {
      const url = await freshDatabase();
      const a = await PostgresStore.open({ url, feedRetentionMs: 0 });
      try {
        await a.transact("k", async (tx) => tx.publish("old", { i: 1 }));
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(await a.pruneFeed()).to.equal(1);
      } finally {
        await a.close();
      }
    });
  });
}
