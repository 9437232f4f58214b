import type {
  DmAllowRecord,
  DmCodeIndexRecord,
  DmExpiryIndexRecord,
  DmOutboxRecord,
  DmRequestRecord,
  DmScopeStatsRecord,
} from "./dm-records";
import type { NodeInviteRecord, NodeRecord, NodeRequestByNodeRecord, NodeRequestExpiryRecord, NodeRequestRecord } from "./node-records";
import type { AuditRecord } from "./audit-log";

/**
 * CollectionTypes names every collection the domain persists and the type of its values. The LevelDB
 * adapter gives each collection its own sublevel; the key layout is documented in src/storage/keys.ts.
 */
export interface CollectionTypes {
  /** Pending DM pairing requests, by `scopeKey(channel, account) + sender id`. */
  dmRequests: DmRequestRecord;
  /** Pending request lookup by code: `scopeKey + CODE` -> sender id. */
  dmCodes: DmCodeIndexRecord;
  /** Pending request expiry order: `expiresAt(16 digits) + scopeKey + sender id`. */
  dmExpiry: DmExpiryIndexRecord;
  /** Approved senders (the allowlist store), by `scopeKey + sender id`. */
  dmAllow: DmAllowRecord;
  /** Durable notification outbox, by `scopeKey + notification sequence`. */
  dmOutbox: DmOutboxRecord;
  /** Per channel account counters kept in step with `dmAllow`, by `scopeKey`. */
  dmScopeStats: DmScopeStatsRecord;
  /** Pending node pairing requests, by request id (32 lowercase hex). */
  nodeRequests: NodeRequestRecord;
  /** A node's one live pending request: node id -> request id. */
  nodeRequestByNode: NodeRequestByNodeRecord;
  /** Pending node request expiry order: `expiresAt(16 digits) NUL requestId`. */
  nodeRequestExpiry: NodeRequestExpiryRecord;
  /** Paired nodes, by node id (64 lowercase hex). Holds the token's SHA-256 only, never the token. */
  nodes: NodeRecord;
  /** The audit trail, by `atMs(16 digits) . sequence(8 hex) . random(8 hex)` (see audit-log.ts). Never holds a secret. */
  audit: AuditRecord;
  /** Node invites, by invite id (16 lowercase hex). Holds the invite's public verification key only, never its secret. */
  nodeInvites: NodeInviteRecord;
}

/** The name of a persisted collection. */
export type CollectionName = keyof CollectionTypes;

/** A key range for iteration; bounds are compared bytewise on the UTF-8 key. */
export interface KeyRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  /** Stop after this many entries. */
  limit?: number;
  reverse?: boolean;
}

/** A read-only view of one collection. Reads never observe half of an atomic write. */
export interface Collection<V> {
  /** The value at `key`, or undefined. Throws UnavailableError when the store is closed or failing. */
  get(key: string): Promise<V | undefined>;
  /** Synchronous read for hot paths (a few microseconds, no thread-pool round trip). */
  getSync(key: string): V | undefined;
  /** Entries in key order within `range`, read from a snapshot taken when iteration starts. */
  entries(range: KeyRange): AsyncIterable<[string, V]>;
}

/** One operation of an atomic write. Build them with {@link put} and {@link del}. */
export type WriteOp =
  | { readonly type: "put"; readonly collection: CollectionName; readonly key: string; readonly value: unknown }
  | { readonly type: "del"; readonly collection: CollectionName; readonly key: string };

/** Builds a put operation, typed by collection. */
export function put<N extends CollectionName>(collection: N, key: string, value: CollectionTypes[N]): WriteOp {
  return { type: "put", collection, key, value };
}

/** Builds a delete operation. */
export function del(collection: CollectionName, key: string): WriteOp {
  return { type: "del", collection, key };
}

/** Options for {@link Store.write}. */
export interface WriteOptions {
  /** fsync before resolving. Required for grants, revocations and rotations. */
  sync: boolean;
}

/**
 * Store is the domain's storage port: typed collections plus one atomic multi-collection write.
 * Every state transition is exactly one `write` call, so a crash never leaves half a transition.
 */
export interface Store {
  /** The collection `name`. */
  collection<N extends CollectionName>(name: N): Collection<CollectionTypes[N]>;
  /** Applies all `ops` atomically (all or nothing). Throws UnavailableError if the write fails. */
  write(ops: readonly WriteOp[], options: WriteOptions): Promise<void>;
}

/** Whether the store accepts writes. After a failed write it is fenced: reads work, writes are refused. */
export interface StoreStatus {
  writable: boolean;
  /** When the store was fenced (Unix ms); absent while writable. */
  fencedAtMs?: number;
  /** The error that fenced it, e.g. "ENOSPC: no space left on device"; absent while writable. */
  cause?: string;
}

/** Separator between key parts. Ids are validated to contain no control characters, so it never occurs inside one. */
export const KEY_SEP = "\u0000";

/** The key prefix of one channel account: `channel NUL account NUL`. */
export function scopeKey(channel: string, accountId: string): string {
  return channel + KEY_SEP + accountId + KEY_SEP;
}

/**
 * The exclusive upper bound of every key starting with `prefix`, which must end with {@link KEY_SEP}:
 * the same prefix with its last NUL raised to U+0001.
 */
export function prefixEnd(prefix: string): string {
  if (!prefix.endsWith(KEY_SEP)) throw new Error("prefixEnd: prefix must end with KEY_SEP");
  return prefix.slice(0, -1) + "\u0001";
}

/** A Unix ms time as the 16-digit key part that sorts in time order (expiry indexes). */
export function ms16(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(16, "0");
}
