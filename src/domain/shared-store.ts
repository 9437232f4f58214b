import type { CollectionTypes, KeyRange, WriteOp } from "./store";

/**
 * The storage port for several daemons over one store (issue 12), owned by the domain. It is additive:
 * the embedded {@link import("./store").Store} port stays as it is until the domain moves onto this one.
 *
 * ## Contract (every adapter: LevelDB, memory-level, PostgreSQL)
 *
 * - **Reads are async only.** There is no `getSync`: a networked store cannot answer synchronously.
 *   Reads outside a transaction see committed data only, never half of a transaction.
 * - **`transact(lockKey, fn)`** runs `fn` while holding `lockKey` exclusively across every instance that
 *   shares the store (LevelDB: an in-process keyed mutex, the database being single-process;
 *   PostgreSQL: `pg_advisory_xact_lock` of a 64-bit hash of tenant and lockKey). Inside `fn`, `tx.get`
 *   and `tx.entries` see the transaction's own puts and deletes (read-your-writes) on top of committed
 *   data. When `fn` resolves, every put, delete and published event is committed in **one atomic,
 *   durable commit** (fsync before `transact` resolves); when `fn` throws, nothing is committed and the
 *   error propagates unchanged. An adapter may run `fn` again after a retryable conflict (PostgreSQL
 *   deadlock or serialization failure), so `fn` must have no effects other than calls on `tx`, and
 *   must not call the store itself (no nested transactions: on LevelDB a nested `transact` of the same
 *   lockKey waits forever, on PostgreSQL it runs on another connection outside this transaction).
 * - **One guarding lock per record.** Mutual exclusion is by lockKey only: every write of a record must
 *   be made under the same lockKey (the domain decides which: a channel account's scope key, the node
 *   lock, …). `take`, `putIfAbsent` and `sweep` default to the record's own lock
 *   ({@link recordLockKey}), and accept the guarding lockKey when the record has another.
 * - **`take(collection, key)`** deletes the record if present and returns it: across every instance,
 *   exactly one concurrent `take` of a record gets it (single-use codes and nonces).
 * - **`putIfAbsent(collection, key, value)`** stores `value` only if no record exists and returns the
 *   record that is stored afterwards (`created` says whose): the gateway identity is created once.
 * - **Expiry.** A record may carry `expiresAtMs` (Unix ms). Expiry schedules deletion; it does not hide
 *   the record: a record stays readable until swept or deleted, and the domain checks liveness with its
 *   own clock. `sweep(collection, now, limit)` deletes records with `expiresAtMs <= now`, each under its
 *   guarding lock after re-reading it, and returns exactly the records **this call** deleted, so with
 *   several instances sweeping, each expired record is reported by exactly one of them (the one that
 *   emits "expired"). `onDelete` runs inside the deleting transaction (delete indexes, publish events).
 * - **Change feed.** `tx.publish(topic, event)` adds an event to the transaction: it is committed with
 *   the writes or not at all. Subscribers of a topic receive its events after commit, in commit order,
 *   each with a store-wide increasing `seq` (gaps allowed); subscribers on every instance receive them.
 *   `subscribe(topic, listener, { afterSeq })` first replays retained events with `seq > afterSeq`, then
 *   delivers live ones, each once, in order, including across a lost and re-established connection.
 *   Retention: PostgreSQL keeps events for its `feedRetentionMs`; the embedded store keeps the last
 *   {@link IN_PROCESS_FEED_RETENTION} events in memory.
 * - **Tenant prefix.** A store instance may be opened with a tenant (`[a-z0-9_-]{1,64}`): it sees only
 *   that tenant's records, locks and topics, so one database can hold several gateways. The empty
 *   tenant is the default (a single gateway).
 * - **Keys** are strings without restriction (they contain NUL), ordered bytewise on their UTF-8 form
 *   (LevelDB's order; PostgreSQL stores them as `bytea`). Values are JSON (objects, arrays, strings,
 *   numbers, booleans; null only inside them) without NUL in strings (jsonb cannot hold it); they
 *   round-trip exactly (object key order aside). Other values are refused with InvalidArgumentError.
 * - **Unknown outcome.** When the connection drops during a commit, `transact` throws UnavailableError
 *   and the transaction may or may not have been applied (as with any networked database).
 * - **Failures.** A store that is closed, unreachable or failing throws UnavailableError (retrying
 *   later may work); domain errors thrown by `fn` propagate unchanged.
 */
export interface SharedStore {
  /** The tenant this instance serves ("" = the single-gateway default). */
  readonly tenant: string;
  /**
   * True when this process is the store's only user (the embedded LevelDB, whose lock guarantees it):
   * the domain may then keep derived state in memory (occupancy summaries, nonces, sessions). False
   * for a store several daemons share (PostgreSQL): every such state lives in the store.
   */
  readonly exclusive: boolean;
  /** The committed value at `key`, or undefined. Throws UnavailableError. */
  get<N extends SharedCollectionName>(collection: N, key: string): Promise<SharedCollectionTypes[N] | undefined>;
  /** The committed record at `key` with its expiry, or undefined. Throws UnavailableError. */
  getRecord<N extends SharedCollectionName>(collection: N, key: string): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined>;
  /** Committed entries in bytewise key order within `range`. Throws UnavailableError. */
  entries<N extends SharedCollectionName>(collection: N, range: KeyRange): AsyncIterable<[string, SharedCollectionTypes[N]]>;
  /**
   * Runs `fn` under `lockKey` and commits its writes and events atomically and durably (see the
   * contract above). Returns what `fn` returns. Throws what `fn` throws, or UnavailableError.
   */
  transact<T>(lockKey: string, fn: (tx: StoreTx) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Deletes the record at `key` if present and returns it; exactly one concurrent taker gets it. Throws UnavailableError. */
  take<N extends SharedCollectionName>(collection: N, key: string, options?: LockOption): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined>;
  /** Stores `value` unless a record exists; returns the stored record and whether this call created it. Throws UnavailableError. */
  putIfAbsent<N extends SharedCollectionName>(
    collection: N,
    key: string,
    value: SharedCollectionTypes[N],
    options?: RecordOptions & LockOption,
  ): Promise<{ created: boolean; value: SharedCollectionTypes[N] }>;
  /**
   * Deletes up to `limit` records of `collection` whose expiry is `<= now`, oldest expiry first, and
   * returns exactly those this call deleted. Throws UnavailableError, or what `onDelete` throws.
   */
  sweep<N extends SharedCollectionName>(collection: N, now: number, limit: number, options?: SweepOptions<N>): Promise<Array<[string, SharedCollectionTypes[N]]>>;
  /** Subscribes to `topic`'s committed events (see the contract). Never throws; failures go to `onError`. */
  subscribe(topic: string, listener: (event: FeedEvent) => void, options?: SubscribeOptions): Subscription;
  /** Closes the store: later calls throw UnavailableError, subscriptions end. Safe to call twice. */
  close(): Promise<void>;
}

/** Every collection of the shared store: the embedded store's collections plus `meta`. */
export interface SharedCollectionTypes extends CollectionTypes {
  /** Store metadata by name (gateway identity, config fingerprint); any JSON value. */
  meta: unknown;
  /**
   * Outstanding node challenges when several daemons share the store, by nonce (64 hex), each with
   * its expiry (single use across daemons: consumed with `take`). The embedded store keeps them in memory.
   */
  nodeChallenges: { nodeId: string; expiresAtMs: number };
  /**
   * Resolved node pairing requests when several daemons share the store, by request id, kept 10
   * minutes (with expiry) so AwaitPairing and approve at any daemon tell "already approved" from "unknown".
   */
  nodeResolved: { requestId: string; nodeId: string; status: "approved" | "rejected" | "expired"; expiresAtMs: number };
  /** Node sessions when several daemons share the store, by SHA-256 of the token (hex), with expiry. */
  nodeSessions: { nodeId: string; expiresAtMs: number; approvedAtMs: number };
}

/** The name of a collection of the shared store. */
export type SharedCollectionName = keyof SharedCollectionTypes;

/** A stored value with its expiry. */
export interface StoredRecord<V> {
  value: V;
  /** Unix ms after which `sweep` deletes the record; undefined = never. */
  expiresAtMs: number | undefined;
}

/** Options of a put. */
export interface RecordOptions {
  /** Unix ms after which `sweep` may delete the record. Omitted = no expiry. */
  expiresAtMs?: number;
}

/** The guarding lock of a single-record operation. */
export interface LockOption {
  /** The lockKey every writer of this record uses. @default recordLockKey(collection, key) */
  lockKey?: string;
}

/** Options of {@link SharedStore.transact}. */
export interface TransactOptions {
  /**
   * Whether the commit must be on disk before `transact` resolves. Only the embedded store honours
   * `false` (LevelDB `sync: false` for cheap, reconstructible writes); PostgreSQL always commits with
   * `synchronous_commit = on`. @default true
   */
  durable?: boolean;
}

/** Options of {@link SharedStore.sweep}. */
export interface SweepOptions<N extends SharedCollectionName> {
  /** The guarding lockKey of a record. @default recordLockKey(collection, key) */
  lockKeyOf?: (key: string, value: SharedCollectionTypes[N]) => string;
  /** Runs inside the transaction that deletes the record (delete its indexes, publish "expired"). */
  onDelete?: (tx: StoreTx, key: string, value: SharedCollectionTypes[N]) => void | Promise<void>;
}

/** What `fn` of {@link SharedStore.transact} can do. Writes are buffered until the commit. */
export interface StoreTx {
  /** The value at `key` as this transaction sees it (its own writes first). */
  get<N extends SharedCollectionName>(collection: N, key: string): Promise<SharedCollectionTypes[N] | undefined>;
  /** The record at `key` with its expiry, as this transaction sees it. */
  getRecord<N extends SharedCollectionName>(collection: N, key: string): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined>;
  /** Entries within `range` as this transaction sees them, in bytewise key order. */
  entries<N extends SharedCollectionName>(collection: N, range: KeyRange): AsyncIterable<[string, SharedCollectionTypes[N]]>;
  /** Stores `value` at `key` (replacing any record and its expiry). */
  put<N extends SharedCollectionName>(collection: N, key: string, value: SharedCollectionTypes[N], options?: RecordOptions): void;
  /** Deletes the record at `key` (no-op when absent). */
  del(collection: SharedCollectionName, key: string): void;
  /** Publishes `event` on `topic` when, and only if, this transaction commits. */
  publish(topic: string, event: unknown): void;
  /**
   * Also holds `lockKey` until this transaction ends (PostgreSQL: another `pg_advisory_xact_lock`;
   * embedded: the keyed mutex). Every transaction that takes several locks must take them in the same
   * order (the domain's: a channel account's scope before the global pending lock), or two could wait
   * for each other (PostgreSQL then aborts one and it is retried; in process it would wait forever).
   * Throws InvalidArgumentError for an empty lockKey.
   */
  lock(lockKey: string): Promise<void>;
  /**
   * Runs `fn` once this transaction has committed, before its locks are released on the embedded
   * store (so in-memory summaries kept under a lock stay in step with it); never after a failed or
   * retried attempt. `fn` must not throw (a throw is swallowed: the commit stands).
   */
  afterCommit(fn: () => void): void;
}

/** One committed change-feed event. */
export interface FeedEvent<E = unknown> {
  /** Store-wide increasing sequence number; pass the last one seen as `afterSeq` to resume. */
  seq: number;
  topic: string;
  event: E;
}

/** Options of {@link SharedStore.subscribe}. */
export interface SubscribeOptions {
  /** Replay retained events with a larger seq first. Omitted = only events committed after `ready`. */
  afterSeq?: number;
  /** Called when the feed fails for good (store closed while subscribed is not a failure). */
  onError?: (err: unknown) => void;
}

/** A live subscription. */
export interface Subscription {
  /** Resolves once every event committed from now on will be delivered (and any replay is done). */
  readonly ready: Promise<void>;
  /** Stops delivery. Safe to call twice. */
  close(): void;
}

/** How many recent events the embedded (in-process) feed keeps for `afterSeq` replays. */
export const IN_PROCESS_FEED_RETENTION = 1024;

/** A tenant name: lowercase letters, digits, `_` and `-`, at most 64 (or "" for none). */
export const TENANT_PATTERN = /^[a-z0-9_-]{0,64}$/;

/**
 * The lockKey guarding a record that has no domain lock of its own (nonces, the gateway identity).
 * It starts with U+0001, which domain ids never contain, so it never equals a domain lockKey.
 */
export function recordLockKey(collection: SharedCollectionName, key: string): string {
  return "\u0001" + collection + "\u0000" + key;
}

/** A topic name: 1–200 printable characters without NUL (it travels in PostgreSQL NOTIFY payloads). */
export const TOPIC_PATTERN = /^[\x20-\x7e]{1,200}$/;

/**
 * Adds the puts and deletes of `ops` (the {@link import("./store").put} / `del` builders the use cases
 * share with the audit log) to `tx`, in order (a later write of the same key wins).
 */
export function applyOps(tx: StoreTx, ops: readonly WriteOp[]): void {
  for (const op of ops) {
    if (op.type === "put") tx.put(op.collection, op.key, op.value as never);
    else tx.del(op.collection, op.key);
  }
}
