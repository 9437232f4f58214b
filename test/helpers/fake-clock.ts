import type { Clock } from "../../src/domain/clock";

/**
 * A Clock that moves only when told to. `advance` moves wall and monotonic time together (time
 * passing); `stepWall` moves only the wall clock (an NTP step or the owner changing the date).
 */
export class FakeClock implements Clock {
  #mono = 1_000_000;
  constructor(private ms = Date.UTC(2026, 0, 27, 10, 30, 0)) {}
  now(): number {
    return this.ms;
  }
  monotonic(): number {
    return this.#mono;
  }
  /** Moves time forward by `ms` (both readings). */
  advance(ms: number): void {
    this.ms += ms;
    this.#mono += ms;
  }
  /** Steps only the wall clock by `ms` (may be negative); monotonic time does not move. */
  stepWall(ms: number): void {
    this.ms += ms;
  }
  /** Sets the wall time (monotonic time does not move). */
  set(ms: number): void {
    this.ms = ms;
  }
}
