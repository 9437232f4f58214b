import type { Clock } from "./clock";
import type { CallerRole } from "./dm-types";

/** Misses per key before further misses are slowed down. */
export const APPROVE_MISS_FREE = 5;
/** The window misses are counted in (monotonic). */
export const APPROVE_MISS_WINDOW_MS = 15 * 60_000;
/** The warning for one key is logged at most this often. */
export const APPROVE_MISS_LOG_INTERVAL_MS = 60_000;
/** Keys remembered at most (the oldest is forgotten first); bounds memory against made-up account ids. */
export const APPROVE_MISS_MAX_KEYS = 10_000;

/**
 * The delay before answering the n-th miss beyond the free ones (n = 1, 2, …), in ms. Injectable so
 * tests of many misses run fast.
 */
export type MissDelaySchedule = (excess: number) => number;

/** The default schedule: 1 s, doubling, at most 30 s (RFC 8628 §5.1 "slow_down" in spirit). */
export const defaultMissDelays: MissDelaySchedule = (excess) => Math.min(30_000, 1000 * 2 ** Math.min(excess - 1, 15));

/** What {@link ApproveMissCounter.record} decided for one miss. */
export interface MissVerdict {
  /** Misses on this key in the window, this one included. */
  recent: number;
  /** How long to wait before answering (0 while the key is within its free misses). */
  delayMs: number;
  /** Whether this miss should be logged (rate-limited per key). */
  log: boolean;
}

interface Entry {
  /** Monotonic times of the misses in the window, oldest first. */
  times: number[];
  loggedAtMono: number;
}

/**
 * ApproveMissCounter counts wrong and malformed pairing codes per (caller role, channel account) on the
 * monotonic clock, in a sliding 15-minute window, and says how long a miss must wait. It never
 * refuses anything and never delays a correct code; it only slows repeated misses.
 */
export class ApproveMissCounter {
  readonly #clock: Clock;
  readonly #schedule: MissDelaySchedule;
  readonly #entries = new Map<string, Entry>();
  /** Misses since start per scope key (every role), for channel status. */
  readonly #totals = new Map<string, number>();

  constructor(clock: Clock, schedule: MissDelaySchedule = defaultMissDelays) {
    this.#clock = clock;
    this.#schedule = schedule;
  }

  /** Records one miss by `role` on the account with store key `scopeKey`. */
  record(role: CallerRole, scopeKey: string): MissVerdict {
    const now = this.#clock.monotonic();
    const key = `${role}\u0000${scopeKey}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= APPROVE_MISS_MAX_KEYS) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
      entry = { times: [], loggedAtMono: -Infinity };
    } else this.#entries.delete(key); // re-insert: the map's order is "least recently missed first"
    this.#entries.set(key, entry);
    prune(entry, now);
    entry.times.push(now);
    // Keep the window's list bounded; beyond the cap the count saturates (the delay is at its maximum).
    if (entry.times.length > 1000) entry.times.shift();
    if (this.#totals.has(scopeKey) || this.#totals.size < APPROVE_MISS_MAX_KEYS) {
      this.#totals.set(scopeKey, (this.#totals.get(scopeKey) ?? 0) + 1);
    }
    const recent = entry.times.length;
    const excess = recent - APPROVE_MISS_FREE;
    let log = false;
    if (excess > 0 && now - entry.loggedAtMono >= APPROVE_MISS_LOG_INTERVAL_MS) {
      entry.loggedAtMono = now;
      log = true;
    }
    return { recent, delayMs: excess > 0 ? Math.max(0, this.#schedule(excess)) : 0, log };
  }

  /** Misses on the account in the current window (every role) and since start. */
  counts(scopeKey: string): { recent: number; total: number } {
    const now = this.#clock.monotonic();
    let recent = 0;
    for (const role of ["owner", "adapter"] as const) {
      const entry = this.#entries.get(`${role}\u0000${scopeKey}`);
      if (entry === undefined) continue;
      prune(entry, now);
      recent += entry.times.length;
    }
    return { recent, total: this.#totals.get(scopeKey) ?? 0 };
  }
}

function prune(entry: Entry, now: number): void {
  let drop = 0;
  while (drop < entry.times.length && now - entry.times[drop]! >= APPROVE_MISS_WINDOW_MS) drop++;
  if (drop > 0) entry.times.splice(0, drop);
}
