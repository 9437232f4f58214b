import { UnavailableError } from "../domain/errors";
import { KeyedMutex } from "../domain/keyed-mutex";
import type {
  FeedEvent,
  SharedCollectionName,
  SharedCollectionTypes,
  StoredRecord,
  StoreTx,
  Subscription,
  SubscribeOptions,
  TransactOptions,
} from "../domain/shared-store";
import { checkLockKey, type DueRecord, openTx, TransactSharedStore, TxWrites } from "../domain/shared-store-base";
import { KEY_SEP, type KeyRange, ms16, prefixEnd } from "../domain/store";
import { InProcessFeed } from "./in-process-feed";
import { EXPIRY_OF_SUBLEVEL, EXPIRY_SUBLEVEL, SHARED_SUBLEVELS } from "./keys";
import { type AbstractDb, iterate, type LevelBatchOp, LevelStore, type LevelSublevel } from "./level-store";

/** Options of the LevelDB shared store. */
export interface LevelSharedStoreOptions {
  /** Tenant prefix of every key ("" = none). @default "" */
  tenant?: string;
}

/**
 * LevelSharedStore implements the {@link import("../domain/shared-store").SharedStore} port on the
 * embedded LevelDB (or memory-level in tests): `transact` holds an in-process keyed mutex (the database
 * is single-process, LevelStore's lock guarantees it) and commits one batch; the change feed is the
 * in-process {@link InProcessFeed}. Layout: src/storage/keys.ts.
 */
export class LevelSharedStore extends TransactSharedStore {
  readonly #level: LevelStore;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #mutex = new KeyedMutex();
  /** LevelDB is single-process (LevelStore's lock): this daemon is the store's only user. */
  readonly exclusive = true;
  readonly #feed = new InProcessFeed();
  readonly #expiry: LevelSublevel;
  readonly #expiryOf: LevelSublevel;
  #closed = false;

  private constructor(level: LevelStore, owned: boolean, tenant: string) {
    super(tenant);
    this.#level = level;
    this.#owned = owned;
    this.#prefix = tenant === "" ? "" : tenant + KEY_SEP;
    this.#expiry = level.sublevel(EXPIRY_SUBLEVEL);
    this.#expiryOf = level.sublevel(EXPIRY_OF_SUBLEVEL);
  }

  /** Opens the database at `location` (see LevelStore.open for what it throws); closing closes it. */
  static async open(location: string, options: LevelSharedStoreOptions = {}): Promise<LevelSharedStore> {
    return LevelSharedStore.#wrap(await LevelStore.open(location), true, options);
  }

  /** Wraps an abstract-level database (e.g. `new MemoryLevel()` in tests); closing closes it. */
  static async fromDb(db: AbstractDb, options: LevelSharedStoreOptions = {}): Promise<LevelSharedStore> {
    return LevelSharedStore.#wrap(await LevelStore.fromDb(db), true, options);
  }

  /** Serves the port over an already open LevelStore, which the caller keeps and closes. */
  static async over(level: LevelStore, options: LevelSharedStoreOptions = {}): Promise<LevelSharedStore> {
    return LevelSharedStore.#wrap(level, false, options);
  }

  static async #wrap(level: LevelStore, owned: boolean, options: LevelSharedStoreOptions): Promise<LevelSharedStore> {
    const store = new LevelSharedStore(level, owned, options.tenant ?? "");
    // Point reads are synchronous (getSync), which needs every sublevel open first.
    await Promise.all([store.#expiry.open(), store.#expiryOf.open(), ...Object.values(SHARED_SUBLEVELS).map((name) => level.sublevel(name).open())]);
    return store;
  }

  // Point reads are synchronous LevelDB reads (microseconds, no thread-pool round trip) behind the
  // async port: the hot paths (CheckInbound's allowlist check, node authentication) stay as fast as
  // the embedded Store's getSync.
  override async get<N extends SharedCollectionName>(collection: N, key: string): Promise<SharedCollectionTypes[N] | undefined> {
    this.#open();
    return this.#readSync(this.#sub(collection), this.#prefix + key) as SharedCollectionTypes[N] | undefined;
  }

  async getRecord<N extends SharedCollectionName>(collection: N, key: string): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined> {
    this.#open();
    const value = this.#readSync(this.#sub(collection), this.#prefix + key);
    if (value === undefined) return undefined;
    return { value: value as SharedCollectionTypes[N], expiresAtMs: this.#readSync(this.#expiryOf, this.#expiryOfKey(collection, key)) as number | undefined };
  }

  entries<N extends SharedCollectionName>(collection: N, range: KeyRange): AsyncIterable<[string, SharedCollectionTypes[N]]> {
    return this.#scan(collection, range) as AsyncIterable<[string, SharedCollectionTypes[N]]>;
  }

  async transact<T>(lockKey: string, fn: (tx: StoreTx) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    checkLockKey(lockKey);
    this.#open();
    const releases = [await this.#mutex.acquire(lockKey)];
    const held = new Set([lockKey]);
    const writes = new TxWrites();
    const { tx, end } = openTx(writes, {
      getRecord: (collection, key) => this.getRecord(collection, key),
      get: (collection, key) => this.get(collection, key),
      scan: (collection, range) => this.#scan(collection, range),
      lock: async (key) => {
        if (held.has(key)) return;
        held.add(key);
        releases.push(await this.#mutex.acquire(key));
      },
    });
    try {
      const result = await fn(tx);
      end();
      await this.#commit(writes, options.durable ?? true);
      writes.runCommitted();
      return result;
    } finally {
      end();
      for (const release of releases.reverse()) release();
    }
  }

  subscribe(topic: string, listener: (event: FeedEvent) => void, options?: SubscribeOptions): Subscription {
    return this.#feed.subscribe(topic, listener, options);
  }

  /** Closes the store (and the database when this store opened it). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    if (this.#owned) await this.#level.close();
  }

  protected async due(collection: SharedCollectionName, now: number, limit: number): Promise<DueRecord[]> {
    this.#open();
    const base = this.#prefix + collection + KEY_SEP;
    const keys: string[] = [];
    for await (const [, entry] of iterate(this.#expiry, { gte: base, lt: base + ms16(now + 1), limit })) {
      keys.push((entry as { key: string }).key);
    }
    const values = await this.#read(() => this.#sub(collection).getMany(keys.map((k) => this.#prefix + k)));
    const due: DueRecord[] = [];
    keys.forEach((key, i) => {
      if (values[i] !== undefined) due.push({ key, value: values[i] });
    });
    return due;
  }

  async #commit(writes: TxWrites, durable: boolean): Promise<void> {
    if (writes.empty) return;
    const dels: LevelBatchOp[] = [];
    const puts: LevelBatchOp[] = [];
    for (const [collection, byKey] of writes.writes) {
      const sub = this.#sub(collection);
      for (const [key, write] of byKey) {
        const full = this.#prefix + key;
        const ofKey = this.#expiryOfKey(collection, key);
        const oldExpiry = this.#expiryOfSync(ofKey);
        if (oldExpiry !== undefined) {
          dels.push({ type: "del", sublevel: this.#expiryOf, key: ofKey });
          dels.push({ type: "del", sublevel: this.#expiry, key: this.#expiryKey(collection, oldExpiry, key) });
        }
        if (write === null) {
          dels.push({ type: "del", sublevel: sub, key: full });
          continue;
        }
        puts.push({ type: "put", sublevel: sub, key: full, value: write.value });
        if (write.expiresAtMs !== undefined) {
          puts.push({ type: "put", sublevel: this.#expiryOf, key: ofKey, value: write.expiresAtMs });
          puts.push({ type: "put", sublevel: this.#expiry, key: this.#expiryKey(collection, write.expiresAtMs, key), value: { key } });
        }
      }
    }
    // Deletes first: a later put of the same key in one batch wins.
    const ops = [...dels, ...puts];
    const ticket = writes.events.length > 0 ? this.#feed.begin() : undefined;
    try {
      // Through LevelStore's write queue and fence (a failed write makes the store read-only).
      await this.#level.writeBatch(ops, { sync: durable });
    } catch (err) {
      if (ticket !== undefined) this.#feed.settle(ticket, undefined);
      throw err;
    }
    if (ticket !== undefined) this.#feed.settle(ticket, writes.events);
  }

  #scan(collection: SharedCollectionName, range: KeyRange): AsyncIterable<[string, unknown]> {
    // Untenanted (the daemon's case): the sublevel's own keys, without another generator per entry.
    if (this.#prefix === "" && !this.#closed) return iterate(this.#sub(collection), range);
    return this.#scanPrefixed(collection, range);
  }

  async *#scanPrefixed(collection: SharedCollectionName, range: KeyRange): AsyncIterable<[string, unknown]> {
    this.#open();
    const p = this.#prefix;
    const bounds: KeyRange = { limit: range.limit, reverse: range.reverse };
    if (range.gt !== undefined) bounds.gt = p + range.gt;
    if (range.gte !== undefined) bounds.gte = p + range.gte;
    if (range.lt !== undefined) bounds.lt = p + range.lt;
    if (range.lte !== undefined) bounds.lte = p + range.lte;
    if (p !== "") {
      if (bounds.gt === undefined && bounds.gte === undefined) bounds.gte = p;
      if (bounds.lt === undefined && bounds.lte === undefined) bounds.lt = prefixEnd(p);
    }
    for await (const [key, value] of iterate(this.#sub(collection), bounds)) yield [key.slice(p.length), value];
  }

  #sub(collection: SharedCollectionName): LevelSublevel {
    return this.#level.sublevel(SHARED_SUBLEVELS[collection]);
  }

  #expiryOfKey(collection: SharedCollectionName, key: string): string {
    return this.#prefix + collection + KEY_SEP + key;
  }

  #expiryKey(collection: SharedCollectionName, expiresAtMs: number, key: string): string {
    return this.#prefix + collection + KEY_SEP + ms16(expiresAtMs) + KEY_SEP + key;
  }

  #readSync(sub: LevelSublevel, key: string): unknown {
    try {
      return sub.getSync(key);
    } catch (err) {
      throw new UnavailableError("storage read failed", { cause: err });
    }
  }

  /** A record's current expiry, read synchronously (microseconds; the commit path reads one per written key). */
  #expiryOfSync(ofKey: string): number | undefined {
    try {
      return this.#expiryOf.getSync(ofKey) as number | undefined;
    } catch (err) {
      throw new UnavailableError("storage read failed", { cause: err });
    }
  }

  #open(): void {
    if (this.#closed) throw new UnavailableError("store is closed");
  }

  async #read<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      throw new UnavailableError("storage read failed", { cause: err });
    }
  }
}
