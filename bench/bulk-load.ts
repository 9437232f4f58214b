import { createHash } from "node:crypto";
import { join } from "node:path";
import { DEFAULT_ACCOUNT } from "../src/domain/channels";
import type { DmAllowRecord } from "../src/domain/dm-records";
import { GATEWAY_IDENTITY_KEY, gatewayIdentityOf, newGatewayKey } from "../src/domain/gateway-identity";
import type { NodeRecord } from "../src/domain/node-records";
import { applyOps, type SharedStore } from "../src/domain/shared-store";
import { put, scopeKey, type WriteOp } from "../src/domain/store";
import { LevelStore } from "../src/storage/level-store";
import { benchNode, benchSender, SENDER_CHANNELS, sendersOfChannel } from "./bench-data";

/** Ops per LevelDB batch while preloading (unsynced; one synced write at the end). */
const BATCH = 2_000;

/** What {@link bulkLoad} wrote. */
export interface BulkLoadResult {
  /** The gateway id (nodes sign it). */
  gatewayId: string;
  senders: number;
  nodes: number;
  /** Wall time of the whole load, ms. */
  ms: number;
}

/**
 * Preloads a fresh state dir `home` the way the daemon would have written it: `senders` approved DM
 * senders (spread over channels by SENDER_CHANNELS, each scope's dmScopeStats count kept in step),
 * `nodes` paired nodes with claimed tokens, and the gateway identity. Goes through LevelStore and the
 * domain's key helpers, so the daemon reads exactly these keys.
 */
export async function bulkLoad(home: string, senders: number, nodes: number): Promise<BulkLoadResult> {
  const store = await LevelStore.open(join(home, "db"));
  try {
    return await load(senders, nodes, {
      identity: (stored) => store.meta().put(GATEWAY_IDENTITY_KEY, stored),
      write: (ops, sync) => store.write(ops, { sync }),
    });
  } finally {
    await store.close();
  }
}

/** The same records into a shared store (PostgreSQL), in transactions of {@link BATCH} records. */
export async function bulkLoadShared(store: SharedStore, senders: number, nodes: number): Promise<BulkLoadResult> {
  return load(senders, nodes, {
    identity: async (stored) => void (await store.putIfAbsent("meta", GATEWAY_IDENTITY_KEY, stored)),
    write: (ops) => store.transact("bench-load", async (tx) => applyOps(tx, ops)),
  });
}

async function load(
  senders: number,
  nodes: number,
  sink: { identity: (stored: unknown) => Promise<void>; write: (ops: WriteOp[], sync: boolean) => Promise<void> },
): Promise<BulkLoadResult> {
  const started = Date.now();
  const stored = newGatewayKey(started);
  await sink.identity(stored);
  const { gatewayId } = gatewayIdentityOf(stored);

  let ops: WriteOp[] = [];
  const flush = async (sync: boolean): Promise<void> => {
    await sink.write(ops, sync);
    ops = [];
  };

  const allow: DmAllowRecord = { approvedAtMs: started, via: "pairing-code", meta: { username: "bench" } };
  for (let i = 0; i < senders; i++) {
    const s = benchSender(senders, i);
    ops.push(put("dmAllow", scopeKey(s.channel, DEFAULT_ACCOUNT) + s.senderId, allow));
    if (ops.length >= BATCH) await flush(false);
  }
  for (let i = 0; i < nodes; i++) {
    const n = benchNode(i);
    const record: NodeRecord = {
      nodeId: n.nodeId,
      publicKey: n.publicKey.toString("base64url"),
      displayName: `bench node ${i}`,
      platform: "linux",
      version: "1.0.0",
      deviceFamily: "server",
      modelIdentifier: "bench",
      caps: ["exec"],
      remoteIp: "127.0.0.1",
      pairedAtMs: started,
      approvedAtMs: started,
      approvedVia: "owner",
      requestId: createHash("sha256").update(n.nodeId).digest("hex").slice(0, 32),
      tokenHash: createHash("sha256").update(n.token, "utf8").digest("hex"),
      tokenIssuedAtMs: started,
    };
    ops.push(put("nodes", n.nodeId, record));
    if (ops.length >= BATCH) await flush(false);
  }
  // The per-scope counters, last, so the final (synced) batch is never empty.
  SENDER_CHANNELS.forEach((spec, c) => {
    ops.push(put("dmScopeStats", scopeKey(spec.channel, DEFAULT_ACCOUNT), { approvedCount: sendersOfChannel(senders, c) }));
  });
  await flush(true);
  return { gatewayId, senders, nodes, ms: Date.now() - started };
}
