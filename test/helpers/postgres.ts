import { randomBytes } from "node:crypto";
import { INSTALL_HINT, type PostgresCluster, postgresBinDir, startPostgresCluster } from "../../bench/postgres-cluster";

/**
 * The PostgreSQL of the test suites: one throwaway cluster per mocha run (see bench/postgres-cluster.ts,
 * which the benchmark shares), a fresh database per suite.
 */
export { type PostgresCluster, postgresBinDir, startPostgresCluster };

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
