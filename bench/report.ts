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
}

/** One goal of issue 4, checked against measured numbers. */
export interface GoalCheck {
  goal: string;
  measured: string;
  limit: string;
  pass: boolean;
}

/** The p-th percentile (0..100) of `sorted` (ascending), nearest rank. NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Fills the ratio fields of every row from its baseline row. */
export function applyRatios(rows: Row[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const r of rows) {
    const base = byId.get(r.baseline);
    if (base === undefined) continue;
    r.cpuRatio = r.serverCpuUsPerOp / base.serverCpuUsPerOp;
    r.rateRatio = r.opsPerS / base.opsPerS;
  }
}

const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** The results table as fixed-width text (also valid Markdown). */
export function formatTable(rows: readonly Row[]): string {
  const header = ["workload", "store", "conc", "req/s", "p50 ms", "p99 ms", "server CPU µs/call", "ratio to echo", "client CPU"];
  const lines = rows.map((r) => [
    r.workload,
    r.store,
    String(r.concurrency),
    fmt(r.opsPerS, 0),
    fmt(r.p50Ms, 2),
    fmt(r.p99Ms, 2),
    fmt(r.serverCpuUsPerOp, 1),
    r.id === r.baseline ? "1.00" : fmt(r.cpuRatio, 2),
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
  const status = (g: GoalCheck): string => (g.measured.startsWith("not measured") ? "n/a " : g.pass ? "pass" : "MISS");
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
