import type { Clock } from "../../src/domain/clock";

/** A Clock that moves only when told to. */
export class FakeClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 27, 10, 30, 0)) {}
  now(): number {
    return this.ms;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.ms += ms;
  }
  /** Sets the time. */
  set(ms: number): void {
    this.ms = ms;
  }
}
