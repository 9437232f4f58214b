import { InvalidArgumentError } from "./errors";
import {
  type FeedEvent,
  type LockOption,
  type RecordOptions,
  recordLockKey,
  type SharedCollectionName,
  type SharedCollectionTypes,
  type SharedStore,
  type StoredRecord,
  type StoreTx,
  type Subscription,
  type SubscribeOptions,
  type SweepOptions,
  TENANT_PATTERN,
  TOPIC_PATTERN,
  type TransactOptions,
} from "./shared-store";
import type { KeyRange } from "./store";

/** A record due for sweeping, as an adapter's expiry scan finds it. */
export interface DueRecord {
  key: string;
  value: unknown;
}

/**
 * TransactSharedStore implements `take`, `putIfAbsent` and `sweep` of the {@link SharedStore} contract
 * on top of an adapter's `transact` and expiry scan, so every adapter gets the same exactly-once
 * semantics. Adapters may override an operation with a native one that keeps the contract.
 */
export abstract class TransactSharedStore implements SharedStore {
  readonly tenant: string;
  abstract readonly exclusive: boolean;

  protected constructor(tenant: string) {
    if (!TENANT_PATTERN.test(tenant)) throw new InvalidArgumentError("tenant must match [a-z0-9_-]{0,64}", "tenant");
    this.tenant = tenant;
  }

  abstract getRecord<N extends SharedCollectionName>(collection: N, key: string): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined>;
  abstract entries<N extends SharedCollectionName>(collection: N, range: KeyRange): AsyncIterable<[string, SharedCollectionTypes[N]]>;
  abstract transact<T>(lockKey: string, fn: (tx: StoreTx) => Promise<T>, options?: TransactOptions): Promise<T>;
  abstract subscribe(topic: string, listener: (event: FeedEvent) => void, options?: SubscribeOptions): Subscription;
  abstract close(): Promise<void>;
  /** Committed records of `collection` with `expiresAtMs <= now`, oldest expiry first, at most `limit`. */
  protected abstract due(collection: SharedCollectionName, now: number, limit: number): Promise<DueRecord[]>;

  async get<N extends SharedCollectionName>(collection: N, key: string): Promise<SharedCollectionTypes[N] | undefined> {
    return (await this.getRecord(collection, key))?.value;
  }

  async take<N extends SharedCollectionName>(collection: N, key: string, options: LockOption = {}): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined> {
    return this.transact(options.lockKey ?? recordLockKey(collection, key), async (tx) => {
      const record = await tx.getRecord(collection, key);
      if (record !== undefined) tx.del(collection, key);
      return record;
    });
  }

  async putIfAbsent<N extends SharedCollectionName>(
    collection: N,
    key: string,
    value: SharedCollectionTypes[N],
    options: RecordOptions & LockOption = {},
  ): Promise<{ created: boolean; value: SharedCollectionTypes[N] }> {
    return this.transact(options.lockKey ?? recordLockKey(collection, key), async (tx) => {
      const existing = await tx.getRecord(collection, key);
      if (existing !== undefined) return { created: false, value: existing.value };
      tx.put(collection, key, value, options.expiresAtMs === undefined ? {} : { expiresAtMs: options.expiresAtMs });
      return { created: true, value };
    });
  }

  async sweep<N extends SharedCollectionName>(
    collection: N,
    now: number,
    limit: number,
    options: SweepOptions<N> = {},
  ): Promise<Array<[string, SharedCollectionTypes[N]]>> {
    const due = await this.due(collection, now, limit);
    // One transaction per guarding lock; inside it each record is re-read, so a record another
    // instance swept (or rewrote) meanwhile is skipped: exactly one sweeper reports it.
    const groups = new Map<string, string[]>();
    for (const { key, value } of due) {
      const lock = options.lockKeyOf?.(key, value as SharedCollectionTypes[N]) ?? recordLockKey(collection, key);
      const keys = groups.get(lock) ?? [];
      keys.push(key);
      groups.set(lock, keys);
    }
    const deleted: Array<[string, SharedCollectionTypes[N]]> = [];
    for (const [lock, keys] of groups) {
      const mine = await this.transact(lock, async (tx) => {
        const out: Array<[string, SharedCollectionTypes[N]]> = [];
        for (const key of keys) {
          const record = await tx.getRecord(collection, key);
          if (record?.expiresAtMs === undefined || record.expiresAtMs > now) continue;
          tx.del(collection, key);
          await options.onDelete?.(tx, key, record.value);
          out.push([key, record.value]);
        }
        return out;
      });
      deleted.push(...mine);
    }
    return deleted;
  }
}

/** A buffered write: a record, or null for a delete. */
export type PendingWrite = StoredRecord<unknown> | null;

/**
 * TxWrites buffers a transaction's puts, deletes and events until the commit and overlays them on
 * committed reads (read-your-writes). The last write of a key wins, so each key appears once.
 */
export class TxWrites {
  /** collection -> key -> pending write. */
  readonly writes = new Map<SharedCollectionName, Map<string, PendingWrite>>();
  readonly events: Array<{ topic: string; event: unknown }> = [];
  /** Callbacks to run after the commit (see StoreTx.afterCommit). */
  readonly committed: Array<() => void> = [];

  /** Runs the afterCommit callbacks (each once; a throw is swallowed: the commit stands). */
  runCommitted(): void {
    for (const fn of this.committed.splice(0)) {
      try {
        fn();
      } catch {
        // see StoreTx.afterCommit
      }
    }
  }

  put(collection: SharedCollectionName, key: string, value: unknown, options: RecordOptions = {}): void {
    checkValue(value);
    const expiresAtMs = options.expiresAtMs;
    if (expiresAtMs !== undefined && (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0)) {
      throw new InvalidArgumentError("expiresAtMs must be a non-negative integer", "expiresAtMs");
    }
    this.#of(collection).set(key, { value, expiresAtMs });
  }

  del(collection: SharedCollectionName, key: string): void {
    this.#of(collection).set(key, null);
  }

  publish(topic: string, event: unknown): void {
    checkTopic(topic);
    checkValue(event);
    this.events.push({ topic, event });
  }

  /** The pending write of a key: a record, null (deleted here) or undefined (untouched). */
  lookup(collection: SharedCollectionName, key: string): PendingWrite | undefined {
    return this.writes.get(collection)?.get(key);
  }

  /** Whether anything is to be committed. */
  get empty(): boolean {
    return this.events.length === 0 && [...this.writes.values()].every((m) => m.size === 0);
  }

  /**
   * Merges this transaction's writes in `collection` into `committed` (which must iterate `range`
   * without its limit, or with a limit raised by {@link overlayCount}), applying `range.limit`.
   */
  async *overlay(collection: SharedCollectionName, range: KeyRange, committed: AsyncIterable<[string, unknown]>): AsyncIterable<[string, unknown]> {
    const sign = range.reverse === true ? -1 : 1;
    const mine = [...(this.writes.get(collection) ?? new Map<string, PendingWrite>())]
      .filter(([key]) => inRange(key, range))
      .sort(([a], [b]) => sign * compareKeys(a, b));
    let limit = range.limit ?? Infinity;
    let i = 0;
    const emitMineBefore = function* (key: string | undefined): Generator<[string, unknown]> {
      while (i < mine.length && limit > 0 && (key === undefined || sign * compareKeys(mine[i]![0], key) < 0)) {
        const [k, w] = mine[i++]!;
        if (w !== null) {
          limit--;
          yield [k, w.value];
        }
      }
    };
    if (limit <= 0) return;
    for await (const [key, value] of committed) {
      yield* emitMineBefore(key);
      if (limit <= 0) return;
      if (i < mine.length && mine[i]![0] === key) {
        const w = mine[i++]![1];
        if (w === null) continue;
        limit--;
        yield [key, w.value];
      } else {
        limit--;
        yield [key, value];
      }
      if (limit <= 0) return;
    }
    yield* emitMineBefore(undefined);
  }

  /** How many buffered writes of `collection` could hide committed entries (to raise a scan's limit). */
  overlayCount(collection: SharedCollectionName): number {
    return this.writes.get(collection)?.size ?? 0;
  }

  #of(collection: SharedCollectionName): Map<string, PendingWrite> {
    let m = this.writes.get(collection);
    if (m === undefined) {
      m = new Map();
      this.writes.set(collection, m);
    }
    return m;
  }
}

/** How a transaction reads committed data: the adapter's reads on the transaction's connection. */
export interface CommittedReads {
  getRecord(collection: SharedCollectionName, key: string): Promise<StoredRecord<unknown> | undefined>;
  scan(collection: SharedCollectionName, range: KeyRange): AsyncIterable<[string, unknown]>;
  /** The committed value only (optional: adapters where that is cheaper than the record with its expiry). */
  get?(collection: SharedCollectionName, key: string): Promise<unknown>;
  /** Takes one more lock for the rest of the transaction (see StoreTx.lock). */
  lock(lockKey: string): Promise<void>;
}

/**
 * Builds the `tx` of one transaction attempt: buffered writes in `writes`, reads overlaid on `committed`.
 * Call `end()` before committing; a `tx` used after that (a leaked reference) throws.
 */
export function openTx(writes: TxWrites, committed: CommittedReads): { tx: StoreTx; end: () => void } {
  let live = true;
  const guard = (): void => {
    if (!live) throw new Error("a transaction's tx was used after the transaction ended");
  };
  const tx: StoreTx = {
    get: async (collection, key) => {
      if (committed.get === undefined) return (await tx.getRecord(collection, key))?.value;
      guard();
      const mine = writes.lookup(collection, key);
      if (mine !== undefined) return mine === null ? undefined : (mine.value as never);
      return (await committed.get(collection, key)) as never;
    },
    getRecord: async (collection, key) => {
      guard();
      const mine = writes.lookup(collection, key);
      if (mine !== undefined) return mine === null ? undefined : (mine as StoredRecord<never>);
      return (await committed.getRecord(collection, key)) as StoredRecord<never> | undefined;
    },
    entries: (collection, range) => {
      guard();
      const pending = writes.overlayCount(collection);
      // Nothing of this transaction to merge: the committed scan as it is (one async layer fewer per entry).
      if (pending === 0) return committed.scan(collection, range) as AsyncIterable<[string, never]>;
      const raised = range.limit === undefined ? range : { ...range, limit: range.limit + pending };
      return writes.overlay(collection, range, committed.scan(collection, raised)) as AsyncIterable<[string, never]>;
    },
    put: (collection, key, value, options) => (guard(), writes.put(collection, key, value, options)),
    del: (collection, key) => (guard(), writes.del(collection, key)),
    publish: (topic, event) => (guard(), writes.publish(topic, event)),
    afterCommit: (fn) => (guard(), void writes.committed.push(fn)),
    lock: async (lockKey) => {
      guard();
      checkLockKey(lockKey);
      await committed.lock(lockKey);
    },
  };
  return { tx, end: () => void (live = false) };
}

/** Compares two keys bytewise on their UTF-8 encoding (LevelDB's and PostgreSQL bytea's order). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Whether `key` lies within the bounds of `range` (bytewise). */
export function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && compareKeys(key, range.gt) <= 0) return false;
  if (range.gte !== undefined && compareKeys(key, range.gte) < 0) return false;
  if (range.lt !== undefined && compareKeys(key, range.lt) >= 0) return false;
  if (range.lte !== undefined && compareKeys(key, range.lte) > 0) return false;
  return true;
}

/** Throws InvalidArgumentError for a lockKey the port does not accept. */
export function checkLockKey(lockKey: string): void {
  if (typeof lockKey !== "string" || lockKey.length === 0) throw new InvalidArgumentError("lockKey must be a non-empty string", "lockKey");
}

/** Throws InvalidArgumentError for a topic that is not 1–200 printable ASCII characters. */
export function checkTopic(topic: string): void {
  if (!TOPIC_PATTERN.test(topic)) throw new InvalidArgumentError("topic must be 1-200 printable ASCII characters", "topic");
}

/**
 * Throws InvalidArgumentError when `value` would not round-trip on every adapter: undefined or a bare
 * null (LevelDB stores neither; absence is undefined), or a string with NUL (U+0000), which
 * PostgreSQL's jsonb cannot store. Keys may contain NUL; values not.
 */
function checkValue(value: unknown): void {
  const json = value === null ? undefined : (JSON.stringify(value) as string | undefined);
  if (json === undefined) throw new InvalidArgumentError("stored values must be JSON other than a bare null", "value");
  if (/(?:^|[^\\])(?:\\\\)*\\u0000/.test(json)) throw new InvalidArgumentError("stored values must not contain NUL characters", "value");
}
