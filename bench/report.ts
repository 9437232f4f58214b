/**
 * The bench's results model, the table it prints and the goals check. Pure functions, so the harness
 * smoke test can check the output shape.
 */

/** One measured workload at one concurrency. */
export interface Row {
  /** Stable id, e.g. "allowed@1k/c50". */
  id: string;
  workload: string;
  /** Preloaded store size label ("-" for the echo server). */
  store: string;
  concurrency: number;
  /** The echo row this row's ratio compares with (same transport and concurrency). */
  baseline: string;
  durationS: number;
  /** Completed operations (a handshake = CreateChallenge + Authenticate counts once). */
  ops: number;
  /** RPCs per operation (2 for a handshake). */
  callsPerOp: number;
  errors: number;
  firstError: string;
  opsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Server process CPU (user + system, from /proc) per operation, µs. */
  serverCpuUsPerOp: number;
  /** Server CPU over the run in cores (1.0 = one core busy). */
  serverCores: number;
  /** PostgreSQL's CPU (postmaster and backends) per operation, µs; NaN for the embedded store. */
  storeCpuUsPerOp: number;
  /** serverCpuUsPerOp / the baseline's (per call). */
  cpuRatio: number;
  /** opsPerS / the baseline's. */
  rateRatio: number;
  /** Load generator CPU over the run in cores, summed over its worker processes. */
  clientCores: number;
  clientProcesses: number;
  /** The server's peak RSS (VmHWM) when this row ended, kB. */
  serverPeakRssKb: number;
  outcomes: Record<string, number>;
  /** How many rounds this row aggregates (medians over them). */
  rounds?: number;
  /** The per-round server CPU ratios to the baseline run next to it. */
  cpuRatioSpread?: Spread;
  /** The per-round req/s ratios to the baseline run next to it. */
  rateRatioSpread?: Spread;
}

/** A ratio measured once per round, summarised. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every per-round value, in round order. */
  samples: number[];
  /** Largest distance of min or max from the median, as a fraction of the median (0.08 = ±8%). */
  spread: number;
}

/** The widest spread (± fraction of the median) for which a median is judged against its goal. */
export const MAX_SPREAD = 0.1;

/** "1.21× (1.18–1.25)" */
export function formatSpread(s: Spread | undefined, digits = 2, unit = "×"): string {
  if (s === undefined || !Number.isFinite(s.median)) return "-";
  return `${s.median.toFixed(digits)}${unit} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** One goal of issue 4, checked against measured numbers. */
export interface GoalCheck {
  goal: string;
  measured: string;
  limit: string;
  pass: boolean;
  /** The per-round values spread wider than ±MAX_SPREAD around the median: not judged. */
  noisy?: boolean;
}

/** The p-th percentile (0..100) of `sorted` (ascending), nearest rank. NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** The results table as fixed-width text (also valid Markdown). */
export function formatTable(rows: readonly Row[]): string {
  const header = ["workload", "store", "conc", "req/s", "p50 ms", "p99 ms", "server CPU µs/call", "PostgreSQL CPU µs/call", "ratio to echo", "ratio min–max", "client CPU"];
  const lines = rows.map((r) => [
    r.workload,
    r.store,
    String(r.concurrency),
    fmt(r.opsPerS, 0),
    fmt(r.p50Ms, 2),
    fmt(r.p99Ms, 2),
    fmt(r.serverCpuUsPerOp, 1),
    fmt(r.storeCpuUsPerOp, 1),
    r.id === r.baseline ? "1.00" : fmt(r.cpuRatio, 2),
    r.cpuRatioSpread === undefined ? "-" : `${fmt(r.cpuRatioSpread.min, 2)}–${fmt(r.cpuRatioSpread.max, 2)}`,
    `${fmt(r.clientCores, 2)} cores`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: readonly string[]): string =>
    "| " + cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i < 3 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...lines.map(line)].join("\n");
}

/** The goals check as "pass"/"MISS" lines. */
export function formatGoals(goals: readonly GoalCheck[]): string {
  const status = (g: GoalCheck): string => (g.measured.startsWith("not measured") ? "n/a " : g.noisy === true ? "NOISY" : g.pass ? "pass" : "MISS");
  return goals.map((g) => `${status(g)}  ${g.goal}: ${g.measured} (goal ${g.limit})`).join("\n");
}

/** A ratio goal: `value` ≤ `max` (or ≥ `min`). Missing rows give a failed check that says so. */
export function ratioGoal(goal: string, value: number | undefined, bound: { max?: number; min?: number }, unit = "×"): GoalCheck {
  const limit = bound.max !== undefined ? `≤ ${bound.max}${unit}` : `≥ ${bound.min ?? 0}${unit}`;
  if (value === undefined || !Number.isFinite(value)) return { goal, measured: "not measured", limit, pass: false };
  const pass = bound.max !== undefined ? value <= bound.max : value >= (bound.min ?? 0);
  const digits = unit === "×" ? 2 : 0;
  return { goal, measured: `${value.toFixed(digits)}${unit}`, limit, pass };
}

/**
 * A goal judged on the median of per-round values. When the rounds spread wider than ±MAX_SPREAD
 * around the median the check is marked noisy and does not pass, whatever the median says.
 */
export function spreadGoal(goal: string, s: Spread | undefined, bound: { max?: number; min?: number }, unit = "×"): GoalCheck {
  const check = ratioGoal(goal, s?.median, bound, unit);
  if (s === undefined || !Number.isFinite(s.median)) return check;
  const digits = unit === "×" ? 2 : 0;
  const measured = `${s.median.toFixed(digits)}${unit} median, ${s.min.toFixed(digits)}–${s.max.toFixed(digits)} over ${s.samples.length} rounds (±${(s.spread * 100).toFixed(0)}%)`;
  if (s.spread > MAX_SPREAD) return { ...check, measured: `${measured}: spread wider than ±${MAX_SPREAD * 100}%, not judged`, pass: false, noisy: true };
  return { ...check, measured };
}
