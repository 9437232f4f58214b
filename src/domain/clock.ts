/** Clock is the domain's only source of time, injected so tests can move time without sleeping. */
export interface Clock {
  /** Wall-clock time in Unix milliseconds. */
  now(): number;
}

/** systemClock reads `Date.now()`. */
export const systemClock: Clock = { now: () => Date.now() };
