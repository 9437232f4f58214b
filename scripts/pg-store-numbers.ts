// Raw numbers of the shared-store adapters (issue 12): transact with 3 puts, take, point read, at
// concurrency 1 and 16, on a throwaway PostgreSQL cluster (fsync on, synchronous_commit on) and on
// LevelDB in a temp dir. Not part of `make bench`; run: node --import tsx scripts/pg-store-numbers.ts
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { SharedStore } from "../src/domain/shared-store";
import { LevelSharedStore } from "../src/storage/level-shared-store";
import { PostgresStore } from "../src/storage/postgres-store";
import { startPostgresCluster } from "../test/helpers/postgres";
import { tempDir } from "../test/helpers/temp-dir";

const SECONDS = Number(process.env.SECONDS_PER_ROW ?? 3);
type Op = (store: SharedStore, worker: number, i: number) => Promise<unknown>;

const ops: Record<string, Op> = {
  "transact, 3 puts (durable)": (s, w, i) =>
    s.transact(`scope${w}`, async (tx) => {
      tx.put("dmRequests", `s${w}\u0000r${i}`, { code: "ABCDEFGH", createdAtMs: i, lastSeenAtMs: i, expiresAtMs: i + 1, meta: {} } as never);
      tx.put("dmCodes", `s${w}\u0000C${i}`, { senderId: `r${i}` });
      tx.put("dmScopeStats", `s${w}\u0000`, { approvedCount: i });
    }),
  take: (s, w, i) => s.take("meta", `nonce${w}-${i}`),
  "point read": (s, w, i) => s.get("dmAllow", `telegram\u0000default\u0000${(w * 7919 + i) % 1000}`),
};

async function seed(s: SharedStore): Promise<void> {
  await s.transact("seed", async (tx) => {
    for (let i = 0; i < 1000; i++) tx.put("dmAllow", `telegram\u0000default\u0000${i}`, { approvedAtMs: i, via: "added", meta: {} });
  });
}

async function seedNonces(s: SharedStore, workers: number, n: number): Promise<void> {
  for (let w = 0; w < workers; w++) {
    await s.transact("seed", async (tx) => {
      for (let i = 0; i < n; i++) tx.put("meta", `nonce${w}-${i}`, { w, i }, { expiresAtMs: Date.now() + 60_000 });
    });
  }
}

async function run(store: SharedStore, name: string, op: Op, concurrency: number): Promise<string> {
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    [...Array(concurrency).keys()].map(async (w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        await op(store, w, i);
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const q = (p: number): string => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(2);
  return `| ${name} | ${concurrency} | ${Math.round(lat.length / SECONDS)} | ${q(0.5)} | ${q(0.99)} |`;
}

async function table(label: string, store: SharedStore): Promise<void> {
  await seed(store);
  console.log(`\n${label}\n\n| operation | clients | ops/s | p50 ms | p99 ms |\n|---|---|---|---|---|`);
  for (const [name, op] of Object.entries(ops)) {
    for (const c of [1, 16]) {
      // Every take finds its nonce: each worker takes its own seeded ones, in order (no warm-up round).
      if (name === "take") await seedNonces(store, c, 20_000);
      else await run(store, name, op, c); // warm-up round, discarded
      console.log(await run(store, name, op, c));
    }
  }
}

async function main(): Promise<void> {
  const { cluster, stop } = await startPostgresCluster();
  try {
    await cluster.admin("CREATE DATABASE bench");
    const pgStore = await PostgresStore.open({ url: cluster.url("bench"), poolSize: 16 });
    await table("PostgreSQL 15 (throwaway cluster, fsync on, synchronous_commit on, pool 16)", pgStore);
    await pgStore.close();
  } finally {
    stop();
  }
  const dir = tempDir();
  try {
    const level = await LevelSharedStore.open(join(dir.path, "db"));
    await table("LevelDB (LevelSharedStore, sync writes)", level);
    await level.close();
  } finally {
    dir.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
