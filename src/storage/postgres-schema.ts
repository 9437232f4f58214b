import { createHash } from "node:crypto";
import type { PoolClient } from "pg";

/**
 * The PostgreSQL layout of the shared-store port, version {@link PG_SCHEMA_VERSION}.
 *
 * One key/value table for every collection, rather than one table per collection, because the access
 * patterns are the same for all of them (point reads, bytewise range scans under a scope prefix, expiry
 * scans per collection) and a transaction writes several collections at once: one table means one set
 * of prepared statements, one statement per commit, and a new collection needs no migration.
 *
 * | table              | columns                                                          | keys and indexes |
 * |--------------------|------------------------------------------------------------------|------------------|
 * | `pairgate_schema`  | `version int`, `applied_at timestamptz`                          | PK `version`: one row per applied migration |
 * | `pairgate_kv`      | `tenant text`, `coll text`, `key bytea`, `value jsonb`, `expires_at bigint NULL` | PK `(tenant, coll, key)`: point reads and range scans (bytea compares bytewise, LevelDB's order); partial index `(tenant, coll, expires_at) WHERE expires_at IS NOT NULL`: sweeps |
 * | `pairgate_events`  | `seq bigserial`, `tenant text`, `topic text`, `event jsonb`, `created_at timestamptz` | PK `seq`; index `(tenant, topic, seq)`: a subscriber reads its topic after the last seq it saw; index `created_at`: retention |
 *
 * - `tenant` is the store's tenant prefix ('' for a single gateway); `coll` the collection name as in
 *   src/domain/store.ts (`dmRequests`, `nodes`, `meta`, …); `key` the UTF-8 bytes of the domain key,
 *   which contains NUL and so cannot be `text`; `value` the JSON value; `expires_at` Unix ms.
 * - Locks: `pg_advisory_xact_lock(h)` where `h` is the first 8 bytes (signed) of SHA-256 over
 *   `"pairgate" NUL kind NUL tenant NUL name`, kind `lock` for a transaction's lockKey and `feed` for a
 *   topic; migrations take {@link MIGRATION_LOCK_ID}.
 * - Change feed: a transaction that publishes takes its topics' `feed` locks (sorted) just before
 *   inserting its events, and holds them to commit, so within a topic `seq` order is commit order; the
 *   same transaction runs `pg_notify('pairgate_feed', tenant || '/' || topic)`.
 *
 * Changing any of this requires a new entry in {@link MIGRATIONS}; never edit an applied one.
 */
export const PG_SCHEMA_VERSION = 1;

/** The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`. */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE pairgate_kv (
       tenant text NOT NULL,
       coll text NOT NULL,
       key bytea NOT NULL,
       value jsonb NOT NULL,
       expires_at bigint,
       PRIMARY KEY (tenant, coll, key)
     )`,
    `CREATE INDEX pairgate_kv_expiry ON pairgate_kv (tenant, coll, expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE TABLE pairgate_events (
       seq bigserial PRIMARY KEY,
       tenant text NOT NULL,
       topic text NOT NULL,
       event jsonb NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     )`,
    `CREATE INDEX pairgate_events_topic ON pairgate_events (tenant, topic, seq)`,
    `CREATE INDEX pairgate_events_created ON pairgate_events (created_at)`,
  ],
];

/** The NOTIFY channel of the change feed. */
export const FEED_CHANNEL = "pairgate_feed";

/** The advisory lock every migration holds (a fixed id: the schema is shared by all tenants). */
export const MIGRATION_LOCK_ID = advisoryLockId("migrate", "", "schema");

/** Thrown when the database holds a newer schema than this pairgate knows. */
export class PostgresSchemaError extends Error {
  constructor(readonly found: number) {
    super(`PostgreSQL schema version ${found} is newer than this pairgate supports (${PG_SCHEMA_VERSION}); upgrade pairgate`);
    this.name = "PostgresSchemaError";
  }
}

/**
 * Brings the schema to {@link PG_SCHEMA_VERSION} in one transaction under the migration lock, so
 * instances starting together migrate once and the others wait, then find nothing to do. Returns the
 * versions applied by this call. Throws PostgresSchemaError for a newer schema, or the database error.
 */
export async function migrate(client: PoolClient): Promise<number[]> {
  await client.query("BEGIN");
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`);
    await client.query(
      "CREATE TABLE IF NOT EXISTS pairgate_schema (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM pairgate_schema");
    const current = rows[0]?.v ?? 0;
    if (current > PG_SCHEMA_VERSION) throw new PostgresSchemaError(current);
    const applied: number[] = [];
    for (let v = current; v < PG_SCHEMA_VERSION; v++) {
      for (const statement of MIGRATIONS[v]!) await client.query(statement);
      await client.query("INSERT INTO pairgate_schema (version) VALUES ($1)", [v + 1]);
      applied.push(v + 1);
    }
    await client.query("COMMIT");
    return applied;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** The advisory lock id of `name` of `kind` for `tenant` (see the layout above), as a bigint literal. */
export function advisoryLockId(kind: "lock" | "feed" | "migrate", tenant: string, name: string): string {
  const digest = createHash("sha256").update(`pairgate\0${kind}\0${tenant}\0${name}`, "utf8").digest();
  return digest.readBigInt64BE(0).toString();
}
