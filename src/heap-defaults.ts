import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/**
 * The V8 heap settings `pairgate serve` applies to itself, so a daemon on a large store stays within
 * its memory goal with no flags from the user (README, Performance).
 *
 * V8 lets the old generation grow to a multiple of what survived the last full collection before it
 * collects again (here: 32 MB live, collected only at ~120 MB). Under load the daemon promotes
 * short-lived per-call objects (calls in flight for tens of milliseconds outlive a scavenge), so
 * that headroom fills with garbage and shows up as resident memory. `--heap-growing-percent` caps the
 * growth step: the next full collection comes once the old generation has grown by this share of its
 * live size. V8 reads it whenever it computes the next limit, so it works when set at run time (the
 * young generation's maximum does not: it is fixed when the isolate starts; see capYoungGeneration).
 */
export const HEAP_GROWING_PERCENT = 30;

/** The flag this module sets, as `node` spells it on the command line. */
export const HEAP_GROWING_FLAG = "--heap-growing-percent";

/**
 * Applies {@link HEAP_GROWING_PERCENT} unless the operator chose a value already (the same flag in
 * `execArgv` or `NODE_OPTIONS`); returns the flag it set, or undefined. Never throws.
 */
export function applyHeapDefaults(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): string | undefined {
  if (operatorSet([...execArgv, ...nodeOptions.split(/\s+/)], [HEAP_GROWING_FLAG])) return undefined;
  const flag = `${HEAP_GROWING_FLAG}=${HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}

/** The young generation's cap (both semi-spaces), MB: V8's own limit is 32 MB on 64-bit (2 × 16 MB). */
export const YOUNG_GENERATION_CAP_MB = 16;

/** The flag the young-generation cap works through; it or the size flag on the command line means the operator sized it. */
const GROWTH_FLAG = "--semi-space-growth-factor";
const YOUNG_SIZE_FLAG = "--max-semi-space-size";

/** Whether one of `args` sets one of `flags` (V8 accepts `_` for `-` in flag names). */
function operatorSet(args: readonly string[], flags: readonly string[]): boolean {
  return args.some((a) => {
    const name = a.split("=")[0]!.replaceAll("_", "-");
    return flags.includes(name);
  });
}

/**
 * Caps the young generation at {@link YOUNG_GENERATION_CAP_MB} from inside the process. Its maximum
 * size is fixed when the isolate starts, but each growth step reads `--semi-space-growth-factor`, so
 * after every collection this sets the factor to 1 (no growth) once the new space has reached the cap
 * and back to V8's default 2 below it (V8 shrinks the new space again when the allocation rate drops).
 * Under load that keeps ~16 MB of short-lived garbage out of resident memory. Does nothing when the
 * operator passed a young-generation flag. Returns a function that stops it. Never throws.
 */
export function capYoungGeneration(execArgv: readonly string[] = process.execArgv, capMb = YOUNG_GENERATION_CAP_MB): () => void {
  if (operatorSet(execArgv, [GROWTH_FLAG, YOUNG_SIZE_FLAG])) return () => undefined;
  const cap = capMb * 1024 * 1024;
  let factor = 2;
  const check = (): void => {
    const space = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    if (space === undefined) return;
    const wanted = space.space_size >= cap ? 1 : 2;
    if (wanted !== factor) {
      factor = wanted;
      setFlagsFromString(`${GROWTH_FLAG}=${factor}`);
    }
  };
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    if (factor !== 2) setFlagsFromString(`${GROWTH_FLAG}=2`);
  };
}
