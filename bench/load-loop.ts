import type { WorkerResult } from "./load-worker";

/** One operation of a load run; resolves to its outcome label (e.g. "allow"). */
export type Op = () => Promise<string>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `op` for `ms` with `concurrency` in flight, then waits for calls in flight: closed loop, or paced
 * at `ratePerS` (operation i is due at t0 + i / rate; a loop that finds its slot due starts at once, so a
 * slow server falls behind the schedule instead of being offered more than `concurrency` calls).
 */
export async function run(op: Op, concurrency: number, ms: number, ratePerS?: number): Promise<WorkerResult> {
  const latenciesUs: number[] = [];
  const outcomes: Record<string, number> = {};
  let errors = 0;
  let firstError = "";
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  const intervalNs = ratePerS === undefined ? 0 : 1e9 / ratePerS;
  let slot = 0;
  const loop = async (): Promise<void> => {
    while (process.hrtime.bigint() < end) {
      if (intervalNs > 0) {
        const dueNs = slot++ * intervalNs;
        const waitMs = (dueNs - Number(process.hrtime.bigint() - t0)) / 1e6;
        if (waitMs >= 1) await sleep(Math.floor(waitMs));
        if (process.hrtime.bigint() >= end) break;
      }
      const start = process.hrtime.bigint();
      try {
        const outcome = await op();
        latenciesUs.push(Number(process.hrtime.bigint() - start) / 1000);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      } catch (err) {
        errors++;
        if (firstError === "") firstError = (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { ops: latenciesUs.length, errors, firstError, latenciesUs, cpuUs: cpu.user + cpu.system, wallUs, outcomes };
}
