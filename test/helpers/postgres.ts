import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * A throwaway PostgreSQL cluster for tests, made from the Debian `postgresql` package: `initdb` into a
 * temp dir and `pg_ctl start` on a free loopback port with a temp socket dir. One cluster serves the
 * whole mocha run (started lazily by the first suite that needs it, stopped by a root `after` hook and,
 * as a fallback, at process exit); each suite gets its own database from {@link freshDatabase}.
 */
export interface PostgresCluster {
  host: string;
  port: number;
  /** Superuser connection URL of database `db`. */
  url(db: string): string;
  /** Runs SQL as the superuser on the `postgres` database. */
  admin(sql: string, values?: unknown[]): Promise<pg.QueryResult>;
}

const INSTALL_HINT = "apt-get install postgresql";

/** The directory holding initdb/pg_ctl/postgres, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const fromEnv = process.env.PAIRGATE_PG_BIN;
  if (fromEnv !== undefined && existsSync(join(fromEnv, "pg_ctl"))) return fromEnv;
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")) && existsSync(join(base, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], "bin");
}

/**
 * Registers `suite` (a function that calls describe/it) when PostgreSQL is installed. Otherwise prints a
 * loud message naming the install command and registers nothing, except under CI=true, where it
 * registers one failing test: the PostgreSQL suites are mandatory in CI.
 */
export function withPostgres(title: string, suite: () => void): void {
  if (postgresBinDir() !== undefined) {
    suite();
    return;
  }
  const message = `PostgreSQL is not installed: "${title}" needs it. Install it with: ${INSTALL_HINT}`;
  if (process.env.CI === "true") {
    describe(title, () => {
      it("has PostgreSQL installed (mandatory when CI=true)", () => {
        throw new Error(message);
      });
    });
    return;
  }
  const bar = "!".repeat(Math.min(100, message.length + 8));
  console.error(`\n${bar}\n!!! ${message}\n!!! These PostgreSQL tests are NOT registered.\n${bar}\n`);
}

let cluster: Promise<PostgresCluster> | undefined;
let stopShared: (() => void) | undefined;

/** The shared cluster of this mocha run, started on first use (≈4 s). Throws when it cannot start. */
export function sharedPostgres(): Promise<PostgresCluster> {
  if (cluster === undefined) {
    cluster = startPostgresCluster().then(({ cluster: c, stop }) => {
      stopShared = stop;
      return c;
    });
    // A root-level hook: runs once, after every suite of the run; the exit handler is the fallback.
    after(() => stopShared?.());
    process.once("exit", () => stopShared?.());
  }
  return cluster;
}

/** A new, empty database on the shared cluster; returns its URL. */
export async function freshDatabase(): Promise<string> {
  const c = await sharedPostgres();
  const name = `t_${randomBytes(6).toString("hex")}`;
  await c.admin(`CREATE DATABASE ${name}`);
  return c.url(name);
}

/** Starts a new throwaway cluster; `stop()` (synchronous, idempotent) stops it and removes its files. */
export async function startPostgresCluster(): Promise<{ cluster: PostgresCluster; stop: () => void }> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(`PostgreSQL is not installed. Install it with: ${INSTALL_HINT}`);
  const dir = mkdtempSync(join(tmpdir(), "pgc-"));
  const asRoot = process.getuid?.() === 0;
  // initdb refuses to run as root: run the server tools as the `postgres` system user then.
  if (asRoot) chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const run = (tool: string, args: string[]): void => {
    const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
    const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${tool} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  };
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-U", "pairgate", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  const port = await freePort();
  run("pg_ctl", [
    "-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60",
    "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
    "start",
  ]);
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const host = "127.0.0.1";
  const url = (db: string): string => `postgres://pairgate@${host}:${port}/${db}`;
  const admin = async (sql: string, values?: unknown[]): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: url("postgres") });
    await client.connect();
    try {
      return await client.query(sql, values);
    } finally {
      await client.end();
    }
  };
  return { cluster: { host, port, url, admin }, stop };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function uidOf(user: string): number {
  return Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
}

function gidOf(user: string): number {
  return Number(spawnSync("id", ["-g", user], { encoding: "utf8" }).stdout.trim());
}
