import type { ServerStream } from "../../clients/ts";

/** A server stream read in the background: what arrived so far and how (and when) it ended. */
export interface FollowedStream<T> {
  /** The messages received so far, in order. */
  readonly items: T[];
  /** Resolves when the stream ends: with undefined for a clean end, else with the error it ended with. */
  readonly ended: Promise<unknown>;
  /** `Date.now()` when the stream ended; 0 while it is open. */
  endedAt(): number;
  /** Cancels the stream from the client side (it then ends cleanly) and waits for the end. */
  cancel(): Promise<void>;
}

/** Reads `stream` in the background (see {@link FollowedStream}); never rejects. */
export function followStream<T>(stream: ServerStream<T>): FollowedStream<T> {
  const items: T[] = [];
  let endedAt = 0;
  const ended = (async () => {
    try {
      for await (const m of stream) items.push(m);
      return undefined;
    } catch (err) {
      return err;
    } finally {
      endedAt = Date.now();
    }
  })();
  return {
    items,
    ended,
    endedAt: () => endedAt,
    cancel: async () => {
      stream.cancel();
      await ended;
    },
  };
}
