import { parseConfig } from "../../src/config/load";
import type { Clock } from "../../src/domain/clock";
import { silentLogger, type Logger } from "../../src/domain/logger";
import { type Daemon, startDaemon } from "../../src/daemon";
import { PairgateClient } from "../../clients/ts";
import { tempDir } from "./temp-dir";

/** A daemon running in this process on a temp state dir, with a client on its socket. */
export interface TestDaemon {
  daemon: Daemon;
  client: PairgateClient;
  home: string;
  /** Stops the daemon, closes the client and removes the temp dir. */
  stop(): Promise<void>;
}

/** Options of {@link startTestDaemon}. */
export interface TestDaemonOptions {
  /** Config object (validated like a config file). @default {} */
  config?: unknown;
  clock?: Clock;
  logger?: Logger;
  /** Reuse this state dir instead of a fresh one (it is then not removed). */
  home?: string;
  /** The approve-miss delay schedule (default: the daemon's 1 s doubling to 30 s). */
  approveMissDelays?: (excess: number) => number;
}

/** Starts a real daemon (real LevelDB, real unix socket) for integration tests. */
export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dir = options.home === undefined ? tempDir() : undefined;
  const home = options.home ?? dir!.path;
  const daemon = await startDaemon({
    home,
    config: parseConfig(withFreeNodePort(options.config ?? {})),
    logger: options.logger ?? silentLogger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.approveMissDelays === undefined ? {} : { approveMissDelays: options.approveMissDelays }),
  });
  const client = new PairgateClient({ socketPath: daemon.socketPath });
  return {
    daemon,
    client,
    home,
    stop: async () => {
      client.close();
      await daemon.stop();
      dir?.cleanup();
    },
  };
}

/**
 * Tests never bind the default node port (7421): unless the config sets `nodes.listen`, the node
 * listener gets a free loopback port (read it back from `daemon.nodeAddress`).
 */
function withFreeNodePort(config: unknown): unknown {
  if (typeof config !== "object" || config === null) return config;
  const c = config as { nodes?: Record<string, unknown> };
  if (c.nodes?.listen !== undefined) return config;
  return { ...c, nodes: { ...c.nodes, listen: "127.0.0.1:0" } };
}
