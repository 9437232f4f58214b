import { spawnSync } from "node:child_process";
import { percentile, type Spread } from "./report";
import { spreadOf } from "./rounds";

/** One command whose wall time is compared with bare `node -e 0`. */
export interface StartupCommand {
  id: string;
  label: string;
  args: readonly string[];
  /** Goal: median wall time at most this many times bare node's. */
  maxRatio: number;
}

/** Medians of interleaved rounds, and each command's ratio to bare node. */
export interface StartupResult {
  rounds: number;
  nodeMedianMs: number;
  /** `ratio` is the median of the per-round ratios (command / bare node in the same round). */
  commands: Array<StartupCommand & { medianMs: number; ratio: number; ratioSpread: Spread; ok: boolean; note: string }>;
}

/** `pairgate --version` (1.5x) and `pairgate pairing list telegram` against a running daemon (2.5x): the goals. */
export const STARTUP_COMMANDS: readonly StartupCommand[] = [
  { id: "version", label: "pairgate --version", args: ["--version"], maxRatio: 1.5 },
  { id: "pairing-list", label: "pairgate pairing list telegram", args: ["pairing", "list", "telegram"], maxRatio: 2.5 },
];

function wallMs(args: readonly string[], env: NodeJS.ProcessEnv): { ms: number; status: number | null; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8", timeout: 10_000 });
  return { ms: performance.now() - t0, status: r.status, out: (r.stderr || r.stdout).trim().split("\n")[0] ?? "" };
}

/**
 * Runs `node -e 0` and each command once per round, interleaved (so load changes on the machine hit
 * every command alike), for `rounds` rounds after one warm-up round, and returns the medians.
 */
export function measureCliStartup(cli: string, home: string, rounds: number, commands: readonly StartupCommand[] = STARTUP_COMMANDS): StartupResult {
  const env = { ...process.env, PAIRGATE_HOME: home, NO_COLOR: "1" };
  const bare: number[] = [];
  const times = commands.map(() => [] as number[]);
  const notes = commands.map(() => ({ ok: true, note: "" }));
  for (let round = -1; round < rounds; round++) {
    const b = wallMs(["-e", "0"], env);
    if (round >= 0) bare.push(b.ms);
    commands.forEach((c, i) => {
      const r = wallMs([cli, ...c.args], env);
      if (round >= 0) times[i]!.push(r.ms);
      if (r.status !== 0) notes[i] = { ok: false, note: `exit ${String(r.status)}: ${r.out}` };
    });
  }
  const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
  const nodeMedianMs = median(bare);
  return {
    rounds,
    nodeMedianMs,
    commands: commands.map((c, i) => {
      const medianMs = median(times[i]!);
      const ratioSpread = spreadOf(times[i]!.map((t, round) => t / bare[round]!));
      return { ...c, medianMs, ratio: ratioSpread.median, ratioSpread, ...notes[i]! };
    }),
  };
}
