import { Level } from "level";
import type { AbstractSublevel } from "abstract-level";
import { UnavailableError } from "../domain/errors";
import type { Collection, CollectionName, CollectionTypes, KeyRange, Store, WriteOp, WriteOptions } from "../domain/store";
import { META_SUBLEVEL, SCHEMA_VERSION, SCHEMA_VERSION_KEY, SUBLEVELS } from "./keys";

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

/** Anything with the abstract-level API: a classic-level `Level` on disk or a `MemoryLevel` in tests. */
export type AbstractDb = Db;

/**
 * LevelStore implements the domain's Store port on LevelDB: one sublevel per collection, JSON values,
 * atomic cross-sublevel batches.
 */
export class LevelStore implements Store {
  readonly #db: Db;
  readonly #subs = new Map<string, Sub>();
  readonly #collections = new Map<CollectionName, Collection<unknown>>();
  #closed = false;

  private constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Opens (creating if needed) the database at `location`.
   * Throws StoreLockedError if another process has it open, SchemaVersionError for a newer layout.
   */
  static async open(location: string): Promise<LevelStore> {
    const db: Db = new Level<string, unknown>(location, { valueEncoding: "json" });
    try {
      await db.open();
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === "LEVEL_LOCKED") throw new StoreLockedError(location, { cause: err });
      throw err;
    }
    return LevelStore.#init(db);
  }

  /** Wraps an already constructed abstract-level database (e.g. `new MemoryLevel()` in tests). */
  static async fromDb(db: Db): Promise<LevelStore> {
    await db.open();
    return LevelStore.#init(db);
  }

  static async #init(db: Db): Promise<LevelStore> {
    const store = new LevelStore(db);
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

  async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    if (ops.length === 0) return;
    const batch = ops.map((op) =>
      op.type === "put"
        ? { type: "put" as const, sublevel: this.#sub(SUBLEVELS[op.collection]), key: op.key, value: op.value }
        : { type: "del" as const, sublevel: this.#sub(SUBLEVELS[op.collection]), key: op.key },
    );
    try {
      await this.#db.batch(batch, { sync: options.sync });
    } catch (err) {
      throw new UnavailableError("storage write failed", { cause: err });
    }
  }

  /** Closes the database; later calls fail with UnavailableError. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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
