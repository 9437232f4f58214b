import { DeadlineExceededError, UnavailableError } from "./errors";

/** Options of {@link retryLostReply}. */
export interface RetryOptions {
  /** Give up after this long (ms), counting from the first attempt. @default 60000 */
  totalMs?: number;
  /** First delay between attempts (ms); doubles up to `maxDelayMs`. @default 200 */
  initialDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to tell the user. */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
}

/** The call may have reached the gateway and its reply been lost: the only errors worth retrying. */
export function isLostReply(err: unknown): err is UnavailableError | DeadlineExceededError {
  return err instanceof UnavailableError || err instanceof DeadlineExceededError;
}

/**
 * Runs `attempt` until it succeeds, retrying (with doubling backoff) only when it fails with
 * UnavailableError or DeadlineExceededError, i.e. when the gateway may have committed the call but its
 * reply was lost. Each attempt must sign afresh (new CreateChallenge nonce): ClaimToken and RotateToken
 * are safe to repeat this way (docs/protocol.md §3a). Rethrows any other error at once, and the last
 * transient error when `totalMs` has passed.
 */
export async function retryLostReply<T>(attempt: (n: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.totalMs ?? 60_000);
  let delay = options.initialDelayMs ?? 200;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isLostReply(err) || Date.now() + delay > deadline) throw err;
      options.onRetry?.(err, n, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, options.maxDelayMs ?? 5_000);
    }
  }
}
