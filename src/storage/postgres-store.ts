import pg from "pg";
import type { ClientConfig, Pool, PoolClient, QueryConfig } from "pg";
import { DomainError, InternalError, UnavailableError } from "../domain/errors";
import {
  type FeedEvent,
  type LockOption,
  recordLockKey,
  type SharedCollectionName,
  type SharedCollectionTypes,
  type StoredRecord,
  type StoreTx,
  type Subscription,
  type SubscribeOptions,
  type TransactOptions,
} from "../domain/shared-store";
import { checkLockKey, type DueRecord, openTx, TransactSharedStore, TxWrites } from "../domain/shared-store-base";
import type { KeyRange } from "../domain/store";
import { PostgresFeed } from "./postgres-feed";
import { advisoryLockId, FEED_CHANNEL, migrate } from "./postgres-schema";

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (libpq URL syntax, as `pg` reads it). */
  url: string;
  /** Tenant prefix ("" = a single gateway). @default "" */
  tenant?: string;
  /** Pool size. @default 10 */
  poolSize?: number;
  /** How long change-feed events are kept for resuming subscribers. @default 3600000 (1 h) */
  feedRetentionMs?: number;
  /** Connection timeout. @default 5000 */
  connectTimeoutMs?: number;
  /** `application_name` of the sessions; daemons use the default, `store migrate` its own. @default "pairgate" */
  applicationName?: string;
}

const PAGE = 256;

/** The `application_name` of a daemon's sessions (how `store migrate` tells that daemons are connected). */
export const DAEMON_APPLICATION_NAME = "pairgate";
const MAX_ATTEMPTS = 8;
const PRUNE_INTERVAL_MS = 60_000;

/**
 * PostgresStore implements the {@link import("../domain/shared-store").SharedStore} port on PostgreSQL
 * with `pg`, so several daemons can share one store. A transaction is one PostgreSQL transaction holding
 * `pg_advisory_xact_lock` of its lockKey, its writes sent as one statement at the end, retried on
 * deadlock or serialization failure; every session runs with `synchronous_commit = on`. Layout and
 * locks: src/storage/postgres-schema.ts.
 */
export class PostgresStore extends TransactSharedStore {
  /** Several daemons may share the database: nothing the domain derives may stay in memory only. */
  readonly exclusive = false;
  readonly #pool: Pool;
  readonly #feed: PostgresFeed;
  readonly #retentionMs: number;
  readonly #pruner: NodeJS.Timeout;
  #closed = false;

  private constructor(pool: Pool, config: ClientConfig, tenant: string, retentionMs: number) {
    super(tenant);
    this.#pool = pool;
    this.#feed = new PostgresFeed(pool, config, tenant);
    this.#retentionMs = retentionMs;
    this.#pruner = setInterval(() => void this.pruneFeed().catch(() => undefined), PRUNE_INTERVAL_MS);
    this.#pruner.unref();
  }

  /**
   * Connects, checks that commits are synchronous, and migrates the schema under the migration lock.
   * Throws UnavailableError when PostgreSQL cannot be reached, PostgresSchemaError for a newer schema.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const config: ClientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      // Enforced for every session of the pool at connection start (and checked below).
      options: "-c synchronous_commit=on",
      application_name: options.applicationName ?? DAEMON_APPLICATION_NAME,
    };
    const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10 });
    // An idle client losing its connection must not crash the daemon; the pool drops it.
    pool.on("error", () => undefined);
    let store: PostgresStore | undefined;
    try {
      const client = await connect(pool);
      try {
        const { rows } = await client.query<{ synchronous_commit: string }>("SHOW synchronous_commit");
        if (rows[0]?.synchronous_commit !== "on") {
          throw new UnavailableError(`PostgreSQL session has synchronous_commit=${rows[0]?.synchronous_commit ?? "?"}; pairgate needs "on"`);
        }
        await migrate(client);
      } finally {
        client.release();
      }
      store = new PostgresStore(pool, config, options.tenant ?? "", options.feedRetentionMs ?? 3_600_000);
      return store;
    } catch (err) {
      if (store === undefined) await pool.end().catch(() => undefined);
      throw mapError(err);
    }
  }

  /**
   * How many sessions of pairgate daemons (any tenant) are connected to this database now, from
   * `pg_stat_activity`. Throws UnavailableError.
   */
  async daemonSessions(): Promise<number> {
    this.#open();
    return this.#call(async () => {
      const { rows } = await this.#pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        [DAEMON_APPLICATION_NAME],
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  override async get<N extends SharedCollectionName>(collection: N, key: string): Promise<SharedCollectionTypes[N] | undefined> {
    return (await this.getRecord(collection, key))?.value;
  }

  async getRecord<N extends SharedCollectionName>(collection: N, key: string): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined> {
    this.#open();
    return this.#call(async () => readRecord(this.#pool, this.tenant, collection, key)) as Promise<StoredRecord<SharedCollectionTypes[N]> | undefined>;
  }

  entries<N extends SharedCollectionName>(collection: N, range: KeyRange): AsyncIterable<[string, SharedCollectionTypes[N]]> {
    return this.#scan(this.#pool, collection, range) as AsyncIterable<[string, SharedCollectionTypes[N]]>;
  }

  async transact<T>(lockKey: string, fn: (tx: StoreTx) => Promise<T>, _options?: TransactOptions): Promise<T> {
    checkLockKey(lockKey);
    for (let attempt = 1; ; attempt++) {
      this.#open();
      const client = await this.#call(() => connect(this.#pool));
      let broken: Error | undefined;
      let committing = false;
      const lockId = advisoryLockId("lock", this.tenant, lockKey);
      // BEGIN (with the lock) is sent with the first read or lock of `fn`. A transaction that only
      // puts, without deletes or events, is then committed as ONE statement that takes the lock first
      // (see #commitPutOnly): one round trip instead of three (nonces, sessions, instance records). Deletes
      // need the BEGIN path: a statement's snapshot predates its lock wait, so a DELETE in it would
      // miss a row the lock's previous holder inserted (INSERT … ON CONFLICT sees the latest row).
      let begun: Promise<void> | undefined;
      const begin = (): Promise<void> =>
        (begun ??= client.query(`BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock(${lockId})`).then(() => undefined));
      try {
        const writes = new TxWrites();
        const { tx, end } = openTx(writes, {
          getRecord: async (collection, key) => (await begin(), readRecord(client, this.tenant, collection, key)),
          scan: (collection, range) => this.#scanAfter(begin(), client, collection, range),
          lock: async (key) => {
            await begin();
            await client.query(`SELECT pg_advisory_xact_lock(${advisoryLockId("lock", this.tenant, key)})`);
          },
        });
        const result = await fn(tx);
        end();
        committing = true;
        if (begun === undefined && writes.events.length === 0 && !hasDeletes(writes)) {
          await this.#commitPutOnly(client, writes, lockId);
        } else {
          await begin();
          await this.#commit(client, writes);
          await client.query("COMMIT");
        }
        writes.runCommitted();
        return result;
      } catch (err) {
        if (begun !== undefined) await client.query("ROLLBACK").catch((e: Error) => (broken = e));
        if (isRetryable(err) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * 5 * attempt);
          continue;
        }
        if (committing && isConnectionError(err)) {
          throw new UnavailableError("PostgreSQL connection lost while committing; the change may or may not have been applied", { cause: err });
        }
        throw mapError(err);
      } finally {
        client.release(broken);
      }
    }
  }

  /** Deletes and returns the record in one statement that first takes the record's guarding lock. */
  override async take<N extends SharedCollectionName>(collection: N, key: string, options: LockOption = {}): Promise<StoredRecord<SharedCollectionTypes[N]> | undefined> {
    this.#open();
    const lock = advisoryLockId("lock", this.tenant, options.lockKey ?? recordLockKey(collection, key));
    const { rows } = await this.#call(() =>
      this.#pool.query<{ value: unknown; expires_at: string | null }>({
        name: "take",
        // The uncorrelated EXISTS is a one-time filter: the lock is taken before the row is deleted,
        // and a row changed by the lock's previous holder is re-read (READ COMMITTED re-check).
        text: `WITH l AS (SELECT pg_advisory_xact_lock($4::bigint)) DELETE FROM pairgate_kv
               WHERE tenant = $1 AND coll = $2 AND key = $3 AND EXISTS (SELECT 1 FROM l) RETURNING value, expires_at`,
        values: [this.tenant, collection, keyBytes(key), lock],
      }),
    );
    const row = rows[0];
    return row === undefined ? undefined : { value: row.value as SharedCollectionTypes[N], expiresAtMs: toMs(row.expires_at) };
  }

  subscribe(topic: string, listener: (event: FeedEvent) => void, options?: SubscribeOptions): Subscription {
    return this.#feed.subscribe(topic, listener, options);
  }

  /** Deletes change-feed events older than the retention. Returns how many. Throws UnavailableError. */
  async pruneFeed(): Promise<number> {
    this.#open();
    const result = await this.#call(() =>
      this.#pool.query({
        name: "feed_prune",
        text: "DELETE FROM pairgate_events WHERE created_at < now() - make_interval(secs => $1::double precision)",
        values: [this.#retentionMs / 1000],
      }),
    );
    return result.rowCount ?? 0;
  }

  /** Closes the pool and the feed connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pruner);
    await this.#feed.close();
    await this.#pool.end().catch(() => undefined);
  }

  protected async due(collection: SharedCollectionName, now: number, limit: number): Promise<DueRecord[]> {
    this.#open();
    const { rows } = await this.#call(() =>
      this.#pool.query<{ key: Buffer; value: unknown }>({
        name: "due",
        text: `SELECT key, value FROM pairgate_kv WHERE tenant = $1 AND coll = $2 AND expires_at <= $3
               ORDER BY expires_at, key LIMIT $4`,
        values: [this.tenant, collection, now, limit],
      }),
    );
    return rows.map((r) => ({ key: r.key.toString("utf8"), value: r.value }));
  }

  /** Sends the buffered writes and events in one statement (after taking the topics' feed locks). */
  async #commit(client: PoolClient, writes: TxWrites): Promise<void> {
    if (writes.empty) return;
    const delColl: string[] = [];
    const delKey: Buffer[] = [];
    const putColl: string[] = [];
    const putKey: Buffer[] = [];
    const putValue: string[] = [];
    const putExpiry: Array<number | null> = [];
    for (const [collection, byKey] of writes.writes) {
      for (const [key, write] of byKey) {
        if (write === null) {
          delColl.push(collection);
          delKey.push(keyBytes(key));
        } else {
          putColl.push(collection);
          putKey.push(keyBytes(key));
          putValue.push(JSON.stringify(write.value));
          putExpiry.push(write.expiresAtMs ?? null);
        }
      }
    }
    const topics = [...new Set(writes.events.map((e) => e.topic))];
    if (topics.length > 0) {
      const ids = topics.map((t) => advisoryLockId("feed", this.tenant, t)).sort();
      await client.query({ name: "feed_lock", text: "SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS id", values: [ids] });
    }
    await client.query({
      name: "commit",
      text: `WITH d AS (
               DELETE FROM pairgate_kv k USING unnest($2::text[], $3::bytea[]) AS x(coll, key)
               WHERE k.tenant = $1 AND k.coll = x.coll AND k.key = x.key),
             p AS (
               INSERT INTO pairgate_kv (tenant, coll, key, value, expires_at)
               SELECT $1, x.coll, x.key, x.value, x.expires_at FROM unnest($4::text[], $5::bytea[], $6::jsonb[], $7::bigint[]) AS x(coll, key, value, expires_at)
               ON CONFLICT (tenant, coll, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at),
             e AS (
               INSERT INTO pairgate_events (tenant, topic, event)
               SELECT $1, x.topic, x.event FROM unnest($8::text[], $9::jsonb[]) WITH ORDINALITY AS x(topic, event, n) ORDER BY x.n)
           SELECT pg_notify('${FEED_CHANNEL}', $1 || '/' || t) FROM unnest($10::text[]) AS t`,
      values: [
        this.tenant,
        delColl,
        delKey,
        putColl,
        putKey,
        putValue,
        putExpiry,
        writes.events.map((e) => e.topic),
        writes.events.map((e) => JSON.stringify(e.event)),
        topics,
      ],
    });
  }

  /**
   * A transaction that sent no BEGIN and only puts: one autocommit statement that takes the advisory
   * lock `lockId` before it writes a row (the insert reads the lock CTE), committed on its own. With
   * nothing to write it still takes the lock (a barrier for the lock's other holders).
   */
  async #commitPutOnly(client: PoolClient, writes: TxWrites, lockId: string): Promise<void> {
    if (writes.empty) {
      await client.query(`SELECT pg_advisory_xact_lock(${lockId})`);
      return;
    }
    const put: { coll: string[]; key: Buffer[]; value: string[]; expiry: Array<number | null> } = { coll: [], key: [], value: [], expiry: [] };
    for (const [collection, byKey] of writes.writes) {
      for (const [key, write] of byKey) {
        if (write === null) throw new Error("unreachable: put-only transaction with a delete");
        put.coll.push(collection);
        put.key.push(keyBytes(key));
        put.value.push(JSON.stringify(write.value));
        put.expiry.push(write.expiresAtMs ?? null);
      }
    }
    await client.query({
      name: "commit_put_only",
      text: `WITH l AS (SELECT pg_advisory_xact_lock($6::bigint) AS locked)
             INSERT INTO pairgate_kv (tenant, coll, key, value, expires_at)
             SELECT $1, x.coll, x.key, x.value, x.expires_at
             FROM unnest($2::text[], $3::bytea[], $4::jsonb[], $5::bigint[]) AS x(coll, key, value, expires_at), l
             ON CONFLICT (tenant, coll, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      values: [this.tenant, put.coll, put.key, put.value, put.expiry, lockId],
    });
  }

  /** {@link #scan} once `ready` (the transaction's BEGIN) has resolved. */
  async *#scanAfter(ready: Promise<void>, client: PoolClient, collection: SharedCollectionName, range: KeyRange): AsyncIterable<[string, unknown]> {
    await ready;
    yield* this.#scan(client, collection, range);
  }

  /** Iterates a key range in pages (keyset pagination), on the pool or inside a transaction. */
  async *#scan(db: Pool | PoolClient, collection: SharedCollectionName, range: KeyRange): AsyncIterable<[string, unknown]> {
    this.#open();
    const reverse = range.reverse === true;
    let lower = range.gt !== undefined ? { key: range.gt, op: ">" } : range.gte !== undefined ? { key: range.gte, op: ">=" } : undefined;
    let upper = range.lt !== undefined ? { key: range.lt, op: "<" } : range.lte !== undefined ? { key: range.lte, op: "<=" } : undefined;
    let left = range.limit ?? Infinity;
    while (left > 0) {
      const values: unknown[] = [this.tenant, collection, Math.min(PAGE, left)];
      let where = "tenant = $1 AND coll = $2";
      if (lower !== undefined) where += ` AND key ${lower.op} $${values.push(keyBytes(lower.key))}`;
      if (upper !== undefined) where += ` AND key ${upper.op} $${values.push(keyBytes(upper.key))}`;
      const query: QueryConfig = {
        name: `scan_${lower?.op ?? ""}_${upper?.op ?? ""}_${reverse ? "r" : "f"}`,
        text: `SELECT key, value FROM pairgate_kv WHERE ${where} ORDER BY key ${reverse ? "DESC" : "ASC"} LIMIT $3`,
        values,
      };
      const { rows } = await this.#call(() => db.query<{ key: Buffer; value: unknown }>(query));
      for (const row of rows) yield [row.key.toString("utf8"), row.value];
      left -= rows.length;
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1]!.key.toString("utf8");
      if (reverse) upper = { key: last, op: "<" };
      else lower = { key: last, op: ">" };
    }
  }

  #open(): void {
    if (this.#closed) throw new UnavailableError("store is closed");
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw mapError(err);
    }
  }
}

async function readRecord(db: Pool | PoolClient, tenant: string, collection: string, key: string): Promise<StoredRecord<unknown> | undefined> {
  const { rows } = await db.query<{ value: unknown; expires_at: string | null }>({
    name: "get",
    text: "SELECT value, expires_at FROM pairgate_kv WHERE tenant = $1 AND coll = $2 AND key = $3",
    values: [tenant, collection, keyBytes(key)],
  });
  const row = rows[0];
  return row === undefined ? undefined : { value: row.value, expiresAtMs: toMs(row.expires_at) };
}

async function connect(pool: Pool): Promise<PoolClient> {
  return pool.connect();
}

function keyBytes(key: string): Buffer {
  return Buffer.from(key, "utf8");
}

function toMs(v: string | null): number | undefined {
  return v === null ? undefined : Number(v);
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Deadlock or serialization failure: the transaction can be run again. */
/** True when a transaction deletes something (it then needs the BEGIN path, see transact). */
function hasDeletes(writes: TxWrites): boolean {
  for (const byKey of writes.writes.values()) for (const write of byKey.values()) if (write === null) return true;
  return false;
}

function isRetryable(err: unknown): boolean {
  const code = sqlState(err);
  return code === "40001" || code === "40P01";
}

/** Whether `err` means the connection to PostgreSQL is gone or cannot be made. */
export function isConnectionError(err: unknown): boolean {
  const code = sqlState(err);
  if (code !== undefined) {
    if (code.startsWith("08") || ["57P01", "57P02", "57P03", "53300", "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "EAI_AGAIN"].includes(code)) {
      return true;
    }
  }
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
}

/** Domain errors pass through; connection trouble becomes UnavailableError; other database errors InternalError. */
function mapError(err: unknown): Error {
  if (err instanceof DomainError) return err;
  if (isConnectionError(err)) {
    return new UnavailableError(`PostgreSQL is unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (err instanceof pg.DatabaseError) return new InternalError(`PostgreSQL error ${err.code ?? "?"}: ${err.message}`, { cause: err });
  return err instanceof Error ? err : new InternalError(String(err));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
