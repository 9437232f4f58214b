import type { CliTiming } from "./runner";
import { type GoalCheck, ratioGoal, type Row, spreadGoal } from "./report";
import type { RoundBook } from "./rounds";
import type { StormResult } from "./storm";
import { pacedId, SAME_RATE } from "./same-rate";

/** The workloads a baseline build (--baseline-cli) runs next to this build's, in the same rounds. */
export const BASELINE_WORKLOADS = ["allowed@1k", "unknown", "handshake@1k", "heartbeat"];

/** The largest accepted this-build / baseline CPU ratio: BENCH_BASELINE_MAX (e.g. 1.05), default 1.1. */
function baselineMax(): number {
  const v = Number(process.env.BENCH_BASELINE_MAX ?? "1.1");
  return Number.isFinite(v) && v > 0 ? v : 1.1;
}

/** The goals of the benchmark issues, checked against a run's rows, rounds and scale facts. */


function stormGoal(storm: StormResult | undefined): GoalCheck {
  const goal = "reconnect storm: every paired node gets a session, no RESOURCE_EXHAUSTED";
  if (storm === undefined) return { goal, measured: "not measured (big phase skipped)", limit: "0 refused", pass: false };
  const failed = storm.nodes - storm.sessions;
  return {
    goal,
    measured:
      `${storm.sessions}/${storm.nodes} sessions in ${(storm.wallMs / 1000).toFixed(1)} s (${storm.retries} retries after dropped connections), ` +
      `${storm.resourceExhausted} RESOURCE_EXHAUSTED, ${failed} never connected`,
    limit: `${storm.nodes}/${storm.nodes}, 0 RESOURCE_EXHAUSTED`,
    pass: failed === 0 && storm.resourceExhausted === 0,
  };
}

export function checkGoals(
  rows: readonly Row[],
  book: RoundBook,
  scale: Record<string, unknown>,
  cliAllowed: CliTiming | undefined,
  cliNodes: CliTiming | undefined,
): GoalCheck[] {
  const row = (id: string): Row | undefined => rows.find((r) => r.id === id);
  const cpu = (r: Row): number => r.serverCpuUsPerOp;
  const p99 = (r: Row): number => r.p99Ms;
  const rate = (r: Row): number => r.opsPerS;
  const ms = (v: unknown): number => Number(v);
  // The row id of a workload's paced run at c=50 (see SAME_RATE).
  const rateOf = (id: string): string => `${SAME_RATE[id]?.opsPerS ?? "?"}/s`;
  const paced = (id: string): string => `${pacedId(id, SAME_RATE[id.replace(/@base$/, "")]?.opsPerS ?? 0)}/c50`;
  const cli = (name: string, t: CliTiming | undefined): GoalCheck =>
    t === undefined
      ? { goal: `CLI first page of \`${name}\``, measured: "not measured (command missing or phase skipped)", limit: "≤ 300 ms", pass: false }
      : { ...ratioGoal(`CLI first page of \`${name}\``, t.ok ? t.ms : undefined, { max: 300 }, " ms"), ...(t.ok ? {} : { measured: `failed: ${t.note}` }) };
  return [
    // Server CPU goals compare runs paced at the same offered load (bench/same-rate.ts); the closed-loop
    // ratios stay in the table.
    spreadGoal(`CheckInbound allowed: server CPU/call vs echo (c=50, both paced at ${rateOf("allowed@1k")})`, row(paced("allowed@1k"))?.cpuRatioSpread, { max: 1.2 }),
    spreadGoal("CheckInbound allowed: req/s vs echo (c=50, closed loop)", row("allowed@1k/c50")?.rateRatioSpread, { min: 0.8 }),
    spreadGoal("CheckInbound unknown: req/s vs echo (c=50, closed loop)", row("unknown/c50")?.rateRatioSpread, { min: 0.5 }),
    // A handshake is one operation of two RPCs; its ratio is per handshake to one echo call.
    spreadGoal(`handshake: server CPU per handshake vs one echo call (tcp, c=50, paced at ${rateOf("handshake@1k")})`, row(paced("handshake@1k"))?.cpuRatioSpread, { max: 3 }),
    spreadGoal(`Connect: server CPU per established session vs one echo call (tcp, c=50, paced at ${rateOf("connect@1k")})`, row(paced("connect@1k"))?.cpuRatioSpread, { max: 2.5 }),
    spreadGoal(`scale: CheckInbound allowed CPU/call vs 1k (c=50, paced at ${rateOf("allowed@1k")})`, book.crossRatio(paced("allowed@big"), paced("allowed@1k"), cpu), { max: 1.25 }),
    // p99 under saturation (closed loop, ~2,000+ samples a run): the paced runs' p99 is a dozen samples
    // of ~1,200 and mostly shows GC pauses.
    spreadGoal("scale: CheckInbound allowed p99 vs 1k (c=50, closed loop)", book.crossRatio("allowed@big/c50", "allowed@1k/c50", p99), { max: 1.25 }),
    spreadGoal(`scale: handshake CPU/handshake vs 1k (c=50, paced at ${rateOf("handshake@1k")})`, book.crossRatio(paced("handshake@big"), paced("handshake@1k"), cpu), { max: 1.25 }),
    spreadGoal("scale: handshake p99 vs 1k (c=50, closed loop)", book.crossRatio("handshake@big/c50", "handshake@1k/c50", p99), { max: 1.25 }),
    ...BASELINE_WORKLOADS.filter((id) => book.samples(`${id}@base/c50`).length > 0).map((id) =>
      spreadGoal(`vs baseline build: ${id} server CPU/op at c=50 (this build / baseline, per round)`, book.crossRatio(`${id}/c50`, `${id}@base/c50`, cpu), { max: baselineMax() }),
    ),
    ...BASELINE_WORKLOADS.filter((id) => SAME_RATE[id] !== undefined && book.samples(paced(`${id}@base`)).length > 0).map((id) =>
      spreadGoal(
        `vs baseline build: ${id} server CPU/op at c=50, both paced at ${SAME_RATE[id]!.opsPerS}/s (this build / baseline, per round)`,
        book.crossRatio(paced(id), paced(`${id}@base`), cpu),
        { max: baselineMax() },
      ),
    ),
    // Issue 12: PostgreSQL next to LevelDB, per round (both daemons measured in the same round).
    spreadGoal("PostgreSQL: CheckInbound allowed req/s vs LevelDB (c=50)", book.crossRatio("allowed@pg/c50", "allowed@1k/c50", rate), { min: 0.5 }),
    spreadGoal("PostgreSQL: handshake req/s vs LevelDB (c=50)", book.crossRatio("handshake@pg/c50", "handshake@1k/c50", rate), { min: 0.4 }),
    stormGoal(scale.storm as StormResult | undefined),
    ratioGoal("scale: daemon peak RSS (VmHWM)", ms(scale.bigPeakRssKb) / 1024, { max: 200 }, " MB"),
    ratioGoal("scale: start to health SERVING", ms(scale.bigStartToServingMs), { max: 2000 }, " ms"),
    cli("pairgate pairing allowed telegram", cliAllowed),
    cli("pairgate nodes list", cliNodes),
  ];
}
