import { Level } from "level";
import type { AbstractSublevel } from "abstract-level";
import { UnavailableError } from "../domain/errors";
import type {
  Collection,
  CollectionName,
  CollectionTypes,
  KeyRange,
  Store,
  StoreStatus,
  WriteOp,
  WriteOptions,
} from "../domain/store";
import { META_SUBLEVEL, SCHEMA_VERSION, SCHEMA_VERSION_KEY, SUBLEVELS } from "./keys";
import type { WriteFaults } from "./write-faults";

type Db = Level<string, unknown>;
type Sub = AbstractSublevel<Db, string | Buffer | Uint8Array, string, unknown>;

/** Thrown by {@link LevelStore.open} when another process holds the database lock. */
export class StoreLockedError extends Error {
  constructor(readonly location: string, options?: { cause?: unknown }) {
    super(`another pairgate daemon is using ${location}`, options);
    this.name = "StoreLockedError";
  }
}

/** Thrown by {@link LevelStore.open} when the database was written by an unknown schema version. */
export class SchemaVersionError extends Error {
  constructor(readonly found: unknown) {
    super(`database schema version ${String(found)} is not supported (this pairgate reads version ${SCHEMA_VERSION})`);
    this.name = "SchemaVersionError";
  }
}

/** classic-level honours `sync` on put and batch; abstract-level's typings only declare it for batch. */
const SYNC: Record<string, unknown> = { sync: true };

/** One sublevel of the database (JSON values); `sublevel.db` is the root, for cross-sublevel batches. */
export type LevelSublevel = Sub;

/** One operation of {@link LevelStore.writeBatch}, addressed to a sublevel. */
export type LevelBatchOp =
  | { type: "put"; sublevel: LevelSublevel; key: string; value: unknown }
  | { type: "del"; sublevel: LevelSublevel; key: string };

/**
 * LevelDB's block cache (decompressed blocks; LevelDB's default is 8 MB). The tables are memory-mapped
 * and snappy-decompressing a 4 kB block costs a few µs, while on a store much larger than the cache
 * (1M senders: ~45 MB of tables) random lookups miss it almost always: 2 MB holds a small store's hot
 * blocks and keeps 6 MB of resident memory off a large one.
 */
export const BLOCK_CACHE_BYTES = 2 * 1024 * 1024;

/** Anything with the abstract-level API: a classic-level `Level` on disk or a `MemoryLevel` in tests. */
export type AbstractDb = Db;

/** Options of {@link LevelStore.open}. */
export interface LevelStoreOptions {
  /** Create the database when `location` holds none. @default true */
  createIfMissing?: boolean;
  /** Test seam: makes chosen writes fail as a full or failing disk would. */
  faults?: WriteFaults;
  /** Clock for the fence's timestamp. @default Date.now */
  now?: () => number;
}

/** The message of every write refused while the store is fenced. */
const FENCED_MESSAGE = "storage is read-only after a failed write; restart pairgate once the disk is healthy";

/**
 * LevelStore implements the domain's Store port on LevelDB: one sublevel per collection, JSON values,
 * atomic cross-sublevel batches.
 */
export class LevelStore implements Store {
  readonly #db: Db;
  readonly #subs = new Map<string, Sub>();
  readonly #collections = new Map<CollectionName, Collection<unknown>>();
  readonly #faults: WriteFaults | undefined;
  readonly #now: () => number;
  readonly #listeners: ((status: StoreStatus) => void)[] = [];
  /** Writes run one at a time, so a failed write is never followed by one LevelDB appends after it. */
  #queue: Promise<unknown> = Promise.resolve();
  #status: StoreStatus = { writable: true };
  #closed = false;

  private constructor(db: Db, options: LevelStoreOptions) {
    this.#db = db;
    this.#faults = options.faults;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens the database at `location` (creating it unless `createIfMissing` is false).
   * Throws StoreLockedError if another process has it open, SchemaVersionError for a newer layout,
   * and LevelDB's own error (`code` LEVEL_DATABASE_NOT_OPEN, `cause` naming the problem) otherwise.
   */
  static async open(location: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
    const db: Db = new Level<string, unknown>(location, {
      valueEncoding: "json",
      cacheSize: BLOCK_CACHE_BYTES,
      createIfMissing: options.createIfMissing ?? true,
    });
    try {
      await db.open();
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === "LEVEL_LOCKED") throw new StoreLockedError(location, { cause: err });
      throw err;
    }
    return LevelStore.#init(db, options);
  }

  /** Wraps an already constructed abstract-level database (e.g. `new MemoryLevel()` in tests). */
  static async fromDb(db: Db, options: LevelStoreOptions = {}): Promise<LevelStore> {
    await db.open();
    return LevelStore.#init(db, options);
  }

  static async #init(db: Db, options: LevelStoreOptions): Promise<LevelStore> {
    const store = new LevelStore(db, options);
    // Sublevels open asynchronously; open them all now so getSync works from the first call.
    await Promise.all([META_SUBLEVEL, ...Object.values(SUBLEVELS)].map((name) => store.#sub(name).open()));
    const meta = store.#sub(META_SUBLEVEL);
    const version = await meta.get(SCHEMA_VERSION_KEY);
    if (version === undefined) {
      await meta.put(SCHEMA_VERSION_KEY, SCHEMA_VERSION, SYNC);
    } else if (version !== SCHEMA_VERSION) {
      await db.close();
      throw new SchemaVersionError(version);
    }
    return store;
  }

  /** The raw metadata sublevel (schema version, gateway identity). */
  meta(): { get(key: string): Promise<unknown>; put(key: string, value: unknown): Promise<void> } {
    const sub = this.#sub(META_SUBLEVEL);
    return {
      get: (key) => sub.get(key),
      put: (key, value) => sub.put(key, value, SYNC),
    };
  }

  /** The sublevel `name` (created on first use). Used by the shared-store adapter (level-shared-store.ts). */
  sublevel(name: string): LevelSublevel {
    return this.#sub(name);
  }

  collection<N extends CollectionName>(name: N): Collection<CollectionTypes[N]> {
    let c = this.#collections.get(name);
    if (c === undefined) {
      c = this.#makeCollection(this.#sub(SUBLEVELS[name]));
      this.#collections.set(name, c);
    }
    return c as Collection<CollectionTypes[N]>;
  }

  /**
   * Applies `ops` atomically. Throws UnavailableError when the write fails, and from then on for every
   * write (the store is fenced) until it is closed and opened again.
   *
   * Why the fence: a write that fails half-way (ENOSPC, EIO) can leave a torn record in LevelDB's log.
   * Records appended after it would be acknowledged, then dropped by the next open's log recovery
   * (LevelDB skips the rest of the damaged log block). Writes are also serialized for the same reason:
   * no write is ever handed to LevelDB while an earlier one might still fail.
   */
  write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    const run = this.#queue.then(() => this.#writeNow(ops, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Like {@link write}, for a batch already addressed to sublevels (the shared-store adapter,
   * level-shared-store.ts): the same write queue and the same fence. Throws UnavailableError.
   */
  writeBatch(batch: readonly LevelBatchOp[], options: WriteOptions): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    const run = this.#queue.then(() => this.#batchNow(batch, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #writeNow(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    const batch = ops.map((op) =>
      op.type === "put"
        ? { type: "put" as const, sublevel: this.#sub(SUBLEVELS[op.collection]), key: op.key, value: op.value }
        : { type: "del" as const, sublevel: this.#sub(SUBLEVELS[op.collection]), key: op.key },
    );
    return this.#batchNow(batch, options);
  }

  async #batchNow(batch: readonly LevelBatchOp[], options: WriteOptions): Promise<void> {
    if (!this.#status.writable) throw new UnavailableError(FENCED_MESSAGE, { logDetail: `${FENCED_MESSAGE} (${this.#status.cause ?? ""})` });
    try {
      this.#faults?.beforeWrite();
      await this.#db.batch(batch as LevelBatchOp[], { sync: options.sync });
    } catch (err) {
      if (!this.#closed) this.#fence(err);
      throw new UnavailableError("storage write failed", { cause: err });
    }
  }

  /** Whether writes are accepted, and if not since when and why. */
  status(): StoreStatus {
    return this.#status;
  }

  /** Calls `listener` once when the store becomes fenced. */
  onStatusChange(listener: (status: StoreStatus) => void): void {
    this.#listeners.push(listener);
  }

  #fence(err: unknown): void {
    if (!this.#status.writable) return;
    this.#status = { writable: false, fencedAtMs: this.#now(), cause: describeCause(err) };
    for (const l of this.#listeners) l(this.#status);
  }

  /**
   * Every key and value of the database in key order, read from ONE snapshot (a single iterator over
   * all sublevels), as LevelDB stores them: `!sublevel!key` and the JSON text of the value.
   */
  async *rawEntries(): AsyncIterable<[string, string]> {
    const it = this.#db.iterator<string, string>({ keyEncoding: "utf8", valueEncoding: "utf8" });
    try {
      while (true) {
        const batch = await it.nextv(1024);
        if (batch.length === 0) return;
        for (const entry of batch) yield entry as [string, string];
      }
    } finally {
      await it.close();
    }
  }

  /** Writes raw entries as {@link rawEntries} yields them (restore). Unsynced; finish with {@link sync}. */
  async putRaw(entries: readonly [string, string][]): Promise<void> {
    await this.#db.batch(
      entries.map(([key, value]) => ({ type: "put" as const, key, value })),
      { keyEncoding: "utf8", valueEncoding: "utf8" },
    );
  }

  /** Makes everything written so far durable: one synced write (LevelDB syncs its whole log). */
  async sync(): Promise<void> {
    await this.meta().put(SCHEMA_VERSION_KEY, SCHEMA_VERSION);
  }

  /** A LevelDB property such as `leveldb.sstables` (classic-level only; "" for other backends). */
  property(name: string): string {
    const db = this.#db as unknown as { getProperty?: (p: string) => string };
    return db.getProperty?.(name) ?? "";
  }

  /** Closes the database; later calls fail with UnavailableError. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await this.#db.close();
  }

  #sub(name: string): Sub {
    let sub = this.#subs.get(name);
    if (sub === undefined) {
      sub = this.#db.sublevel<string, unknown>(name, { valueEncoding: "json" }) as Sub;
      this.#subs.set(name, sub);
    }
    return sub;
  }

  #makeCollection(sub: Sub): Collection<unknown> {
    return {
      get: async (key) => {
        try {
          return await sub.get(key);
        } catch (err) {
          throw new UnavailableError("storage read failed", { cause: err });
        }
      },
      getSync: (key) => {
        try {
          return sub.getSync(key);
        } catch (err) {
          throw new UnavailableError("storage read failed", { cause: err });
        }
      },
      entries: (range: KeyRange) => iterate(sub, range),
    };
  }
}

/** "ENOSPC: no space left on device" style text of a storage error and its causes. */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const x = e as { code?: unknown; message?: unknown; cause?: unknown };
    const text = typeof x.message === "string" ? x.message : String(e);
    parts.push(typeof x.code === "string" && !text.includes(x.code) ? `${x.code}: ${text}` : text);
    e = x.cause;
  }
  return parts.join(": ");
}

/** Iterates a sublevel range in batches of 256, from a snapshot; open errors become UnavailableError. */
export async function* iterate(sub: Sub, range: KeyRange): AsyncIterable<[string, unknown]> {
  const options: Record<string, unknown> = {};
  for (const k of ["gt", "gte", "lt", "lte", "limit", "reverse"] as const) {
    if (range[k] !== undefined) options[k] = range[k];
  }
  let it;
  try {
    it = sub.iterator(options);
  } catch (err) {
    throw new UnavailableError("storage read failed", { cause: err });
  }
  try {
    while (true) {
      const batch = await it.nextv(256);
      if (batch.length === 0) return;
      for (const entry of batch) yield entry as [string, unknown];
    }
  } finally {
    await it.close();
  }
}
