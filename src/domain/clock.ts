import { performance } from "node:perf_hooks";

/**
 * Clock is the domain's only source of time, injected so tests can move time without sleeping.
 *
 * Two readings: `now()` is wall-clock time (what is persisted and shown: expiries on disk, event
 * times); `monotonic()` never jumps when the system clock is stepped (NTP, the owner fixing the date)
 * and times every in-memory lifetime: nonces, sessions, rate limits, resolved-request memory.
 */
export interface Clock {
  /** Wall-clock time in Unix milliseconds. */
  now(): number;
  /** Milliseconds on a monotonic clock with an arbitrary origin; only differences mean anything. */
  monotonic(): number;
}

/** systemClock reads `Date.now()` and `performance.now()`. */
export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/**
 * The wall-clock time at which something due at monotonic time `dueMono` falls, as seen now (for
 * answers such as `expires_at_ms`; a later clock step moves the answer, never the lifetime).
 */
export function wallTimeOf(clock: Clock, dueMono: number): number {
  return clock.now() + Math.round(dueMono - clock.monotonic());
}
