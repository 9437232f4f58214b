import { percentile, type Row, type Spread } from "./report";

/**
 * Rounds, interleaved, medians: the bench measures every workload several times, each daemon run right
 * next to its baseline run (alternating which goes first), and judges goals on the median of the
 * per-round ratios. Pure functions, so the aggregation can be tested without running anything.
 */

/** The widest spread (± fraction of the median) for which a ratio's median is trusted. */
export const MAX_SPREAD = 0.1;

/** The median of `xs` (NaN when empty). */
export function median(xs: readonly number[]): number {
  const finite = xs.filter((x) => Number.isFinite(x));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
}

/** Summarises per-round values (NaN values, from failed runs, are left out). */
export function spreadOf(samples: readonly number[]): Spread {
  const finite = samples.filter((x) => Number.isFinite(x));
  const m = median(finite);
  const min = finite.length === 0 ? Number.NaN : Math.min(...finite);
  const max = finite.length === 0 ? Number.NaN : Math.max(...finite);
  return { median: m, min, max, samples: [...samples], spread: Math.max(m - min, max - m) / m };
}

/**
 * One row of the table from the samples of every round: medians of every measured field, the sums of
 * ops and errors, the worst peak RSS. `cpuRatio`/`rateRatio` are filled by the caller from the paired
 * per-round ratios.
 */
export function aggregateRow(samples: readonly Row[]): Row {
  if (samples.length === 0) throw new Error("aggregateRow needs at least one sample");
  const first = samples[0]!;
  const med = (f: (r: Row) => number): number => median(samples.map(f));
  const outcomes: Record<string, number> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  return {
    ...first,
    durationS: samples.reduce((a, s) => a + s.durationS, 0),
    ops: samples.reduce((a, s) => a + s.ops, 0),
    errors: samples.reduce((a, s) => a + s.errors, 0),
    firstError: samples.find((s) => s.firstError !== "")?.firstError ?? "",
    opsPerS: med((r) => r.opsPerS),
    p50Ms: med((r) => r.p50Ms),
    p99Ms: med((r) => r.p99Ms),
    serverCpuUsPerOp: med((r) => r.serverCpuUsPerOp),
    serverCores: med((r) => r.serverCores),
    clientCores: med((r) => r.clientCores),
    serverPeakRssKb: Math.max(...samples.map((s) => s.serverPeakRssKb)),
    outcomes,
    rounds: samples.length,
  };
}

/** Keeps every round's sample of each row id and the paired ratios measured in the same round. */
export class RoundBook {
  readonly #samples = new Map<string, Row[]>();
  readonly #pairs = new Map<string, { cpu: number[]; rate: number[] }>();
  readonly #order: string[] = [];

  /** Records one run of a row. */
  add(row: Row): void {
    if (!this.#samples.has(row.id)) {
      this.#samples.set(row.id, []);
      this.#order.push(row.id);
    }
    this.#samples.get(row.id)!.push(row);
  }

  /** Records the ratio of a daemon run to the baseline run next to it, in the same round. */
  addPair(daemon: Row, baseline: Row): void {
    const p = this.#pairs.get(daemon.id) ?? { cpu: [], rate: [] };
    p.cpu.push(daemon.serverCpuUsPerOp / baseline.serverCpuUsPerOp);
    p.rate.push(daemon.opsPerS / baseline.opsPerS);
    this.#pairs.set(daemon.id, p);
  }

  /** Every sample of a row id (round order). */
  samples(id: string): readonly Row[] {
    return this.#samples.get(id) ?? [];
  }

  /** Per-round ratio of a field between two rows measured in the same rounds (e.g. big vs 1k store). */
  crossRatio(a: string, b: string, f: (r: Row) => number): Spread | undefined {
    const xs = this.samples(a);
    const ys = this.samples(b);
    const n = Math.min(xs.length, ys.length);
    if (n === 0) return undefined;
    return spreadOf(Array.from({ length: n }, (_, i) => f(xs[i]!) / f(ys[i]!)));
  }

  /** The aggregated rows (first-seen order), with the median paired ratios and their spreads. */
  rows(): Row[] {
    return this.#order.map((id) => {
      const row = aggregateRow(this.#samples.get(id)!);
      const pair = this.#pairs.get(id);
      if (row.id === row.baseline) {
        row.cpuRatio = 1;
        row.rateRatio = 1;
      } else if (pair !== undefined) {
        row.cpuRatioSpread = spreadOf(pair.cpu);
        row.rateRatioSpread = spreadOf(pair.rate);
        row.cpuRatio = row.cpuRatioSpread.median;
        row.rateRatio = row.rateRatioSpread.median;
      }
      return row;
    });
  }
}

/** Alternation: even rounds run the baseline first, odd rounds the daemon first. */
export function pairOrder<T>(round: number, baseline: T, daemon: T): [T, T] {
  return round % 2 === 0 ? [baseline, daemon] : [daemon, baseline];
}

export { percentile, type Spread };
