import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PairgateClient } from "../../clients/ts";
import { STORAGE_URL_ENV } from "../../src/config/storage";
import { type CliResult, pairgate, serve, type ServeProcess } from "../e2e/cli";
import { until } from "./child";
import { freshDatabase } from "./postgres";
import { tempDir } from "./temp-dir";
import { TestNode } from "./test-node";

/**
 * One built `pairgate serve` subprocess over a PostgreSQL database it shares with other daemons: its
 * own state dir, operator socket, adapter socket and node listener (a free loopback port).
 */
export interface SharedDaemon {
  /** A label for messages ("A", "B"). */
  readonly name: string;
  /** Its PAIRGATE_HOME (a temp dir, removed by {@link SharedDaemon.stop}). */
  readonly home: string;
  readonly process: ServeProcess;
  /** A client on the operator socket (`<home>/pairgate.sock`). */
  readonly operator: PairgateClient;
  /** A client on the adapter socket (`<home>/adapter.sock`), as a chat adapter connects. */
  readonly adapter: PairgateClient;
  /** The node listener's bound address, `127.0.0.1:<port>`. */
  readonly nodeAddress: string;
  /** Runs the built CLI against this daemon (`PAIRGATE_HOME` = its home). */
  cli(args: readonly string[]): Promise<CliResult>;
  /**
   * A test node talking to this daemon's node listener, gateway id read; closed by `stop`. The same
   * `seed` on two daemons gives the same node identity on both.
   */
  node(seed: Uint8Array): Promise<TestNode>;
  /** SIGKILLs the daemon (no shutdown at all) and waits for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after 10 s), closes the clients and nodes, removes the state dir. Idempotent. */
  stop(): Promise<void>;
}

/** Several daemons over one fresh database (see {@link startSharedDaemons}). */
export interface SharedDaemons {
  /** The database URL every daemon got in PAIRGATE_STORAGE_URL. */
  readonly url: string;
  readonly daemons: SharedDaemon[];
  /** Stops every daemon. */
  stop(): Promise<void>;
}

/** Options of {@link startSharedDaemons}. */
export interface SharedDaemonsOptions {
  /** The daemons' labels; one daemon per label. @default ["A", "B"] */
  names?: readonly string[];
  /**
   * Config every daemon gets (validated by the daemon). The harness adds `"storage": {"kind":
   * "postgres"}` (the URL goes in PAIRGATE_STORAGE_URL) and `nodes.listen` `127.0.0.1:0`.
   */
  config?: Record<string, unknown>;
  /** Use this database instead of a fresh one from the shared test cluster. */
  url?: string;
}

/**
 * Starts one daemon per name, all at once (so they race to create the store's gateway identity), over
 * one fresh database of the throwaway PostgreSQL cluster (test/helpers/postgres.ts). Rejects, after
 * stopping whatever did start, when a daemon does not come up; the message carries its stderr.
 */
export async function startSharedDaemons(options: SharedDaemonsOptions = {}): Promise<SharedDaemons> {
  const url = options.url ?? (await freshDatabase());
  const names = options.names ?? ["A", "B"];
  const started = await Promise.allSettled(names.map((name) => startSharedDaemon(name, url, options.config ?? {})));
  const daemons = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => d.stop()));
  };
  const failed = started.flatMap((s) => (s.status === "rejected" ? [s.reason as unknown] : []));
  if (failed.length > 0) {
    await stop();
    throw failed[0];
  }
  return { url, daemons, stop };
}

const READY = "pairgate daemon listening on";

/** Starts one daemon on a new temp home over the database at `url` (see {@link startSharedDaemons}). */
export async function startSharedDaemon(name: string, url: string, config: Record<string, unknown>): Promise<SharedDaemon> {
  const dir = tempDir("pgm-");
  const home = dir.path;
  const nodes = config.nodes as Record<string, unknown> | undefined;
  const full = { ...config, nodes: { listen: "127.0.0.1:0", ...nodes }, storage: { kind: "postgres" } };
  writeFileSync(join(home, "config.json"), JSON.stringify(full, null, 2));
  let proc: ServeProcess;
  try {
    proc = await serve(home, [], { [STORAGE_URL_ENV]: url });
  } catch (err) {
    dir.cleanup();
    throw err;
  }
  let gone = false;
  void proc.exited.then(() => (gone = true));
  const exitedEarly = (): Error => new Error(`daemon ${name} did not start (exit ${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.stderr()}`);
  try {
    await until(() => (proc.stderr().includes(READY) || gone ? true : undefined), `daemon ${name} to listen`, 30_000);
  } catch {
    // fall through: reported below with the daemon's output
  }
  if (gone || !proc.stderr().includes(READY)) {
    proc.child.kill("SIGKILL");
    await proc.exited;
    const err = exitedEarly();
    dir.cleanup();
    throw err;
  }

  const operator = new PairgateClient({ socketPath: join(home, "pairgate.sock") });
  const adapter = new PairgateClient({ socketPath: join(home, "adapter.sock") });
  const opened: TestNode[] = [];
  let stopped = false;
  const closeClients = (): void => {
    for (const n of opened.splice(0)) n.close();
    operator.close();
    adapter.close();
  };
  const kill = async (): Promise<void> => {
    if (!gone) proc.child.kill("SIGKILL");
    await proc.exited;
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    closeClients();
    if (!gone) {
      proc.child.kill("SIGTERM");
      const hard = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(hard);
    }
    dir.cleanup();
  };
  let nodeAddress: string;
  try {
    nodeAddress = (await operator.admin.getDaemonStatus()).nodeListenAddress;
  } catch (err) {
    await stop();
    throw new Error(`daemon ${name} does not answer GetDaemonStatus: ${String(err)}\n${proc.stderr()}`, { cause: err });
  }
  return {
    name,
    home,
    process: proc,
    operator,
    adapter,
    nodeAddress,
    cli: (args) => pairgate(args, { PAIRGATE_HOME: home }),
    node: async (seed) => {
      const n = new TestNode(nodeAddress, seed);
      opened.push(n);
      return n.init();
    },
    kill,
    stop,
  };
}

/** A fresh 32-byte node key seed, for one node identity on several daemons ({@link SharedDaemon.node}). */
export function nodeSeed(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}
