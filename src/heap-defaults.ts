import { setFlagsFromString } from "node:v8";

/**
 * The V8 heap setting `pairgate serve` applies to itself, so a daemon on a large store stays within
 * its memory goal with no flags from the user (README, Performance).
 *
 * V8 lets the old generation grow to a multiple of what survived the last full collection before it
 * collects again (here: 32 MB live, collected only at ~120 MB). Under load the daemon promotes
 * short-lived per-call objects (calls in flight for tens of milliseconds outlive a scavenge), so
 * that headroom fills with garbage and shows up as resident memory. `--heap-growing-percent` caps the
 * growth step: the next full collection comes once the old generation has grown by this share of its
 * live size. V8 reads it whenever it computes the next limit, so it works when set at run time (the
 * young-generation size does not: that is fixed when the isolate starts, see bench/README.md).
 */
export const HEAP_GROWING_PERCENT = 30;

/** The flag this module sets, as `node` spells it on the command line. */
export const HEAP_GROWING_FLAG = "--heap-growing-percent";

/**
 * Applies {@link HEAP_GROWING_PERCENT} unless the operator chose a value already (the same flag in
 * `execArgv` or `NODE_OPTIONS`); returns the flag it set, or undefined. Never throws.
 */
export function applyHeapDefaults(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): string | undefined {
  const spelled = (s: string): boolean => s.includes(HEAP_GROWING_FLAG) || s.includes(HEAP_GROWING_FLAG.replaceAll("-", "_").replace(/^__/, "--"));
  if (execArgv.some(spelled) || spelled(nodeOptions)) return undefined;
  const flag = `${HEAP_GROWING_FLAG}=${HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}
