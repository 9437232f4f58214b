import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { processCpuUs } from "./proc-stats";

/**
 * A throwaway PostgreSQL cluster for tests and the benchmark, made from the Debian `postgresql` package: `initdb` into a
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
  /** CPU the cluster's processes (postmaster and backends alive now) have used, µs. */
  cpuUs(): number;
}

/** What to install when PostgreSQL is missing. */
export const INSTALL_HINT = "apt-get install postgresql";

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
  const cpuUs = (): number => {
    // The postmaster and every backend it forked (their pids from /proc), user + system CPU.
    const master = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    let total = processCpuUs(master);
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === master) total += processCpuUs(Number(entry));
      } catch {
        // the process ended meanwhile
      }
    }
    return total;
  };
  return { cluster: { host, port, url, admin, cpuUs }, stop };
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
