import { IN_PROCESS_FEED_RETENTION, type FeedEvent, type SubscribeOptions, type Subscription } from "../domain/shared-store";
import { checkTopic } from "../domain/shared-store-base";

/** A commit slot of {@link InProcessFeed}: taken before the write, settled after it. */
export interface FeedTicket {
  events: Array<{ topic: string; event: unknown }> | undefined;
  settled: boolean;
}

/** A listener with the topic it follows. */
export interface TopicListener {
  topic: string;
  deliver: (event: FeedEvent) => void;
  onError: ((err: unknown) => void) | undefined;
}

/**
 * InProcessFeed is the embedded store's change feed: transactions take a ticket before their batch,
 * in commit-start order, and settle it afterwards with their events (or nothing, when the batch failed).
 * Events are numbered and delivered only once every earlier ticket has settled, so subscribers see
 * them after the commit and in commit order. The last {@link IN_PROCESS_FEED_RETENTION} events are kept
 * for `afterSeq` replays.
 */
export class InProcessFeed {
  readonly #queue: FeedTicket[] = [];
  readonly #recent: FeedEvent[] = [];
  readonly #listeners = new Set<TopicListener>();
  #lastSeq = 0;

  /** Takes the next commit slot. */
  begin(): FeedTicket {
    const ticket: FeedTicket = { events: undefined, settled: false };
    this.#queue.push(ticket);
    return ticket;
  }

  /** Settles a slot with the committed events (undefined = the commit failed) and delivers what is due. */
  settle(ticket: FeedTicket, events: Array<{ topic: string; event: unknown }> | undefined): void {
    ticket.events = events;
    ticket.settled = true;
    while (this.#queue.length > 0 && this.#queue[0]!.settled) {
      for (const { topic, event } of this.#queue.shift()!.events ?? []) {
        const e: FeedEvent = { seq: ++this.#lastSeq, topic, event };
        this.#recent.push(e);
        if (this.#recent.length > IN_PROCESS_FEED_RETENTION) this.#recent.shift();
        for (const l of [...this.#listeners]) if (l.topic === topic) this.#deliver(l, e);
      }
    }
  }

  /** Subscribes to `topic` (see SharedStore.subscribe). Throws InvalidArgumentError for a bad topic. */
  subscribe(topic: string, deliver: (event: FeedEvent) => void, options: SubscribeOptions = {}): Subscription {
    checkTopic(topic);
    const listener: TopicListener = { topic, deliver, onError: options.onError };
    this.#listeners.add(listener);
    if (options.afterSeq !== undefined) {
      for (const e of this.#recent) {
        if (e.seq > options.afterSeq && e.topic === topic && this.#listeners.has(listener)) this.#deliver(listener, e);
      }
    }
    return { ready: Promise.resolve(), close: () => void this.#listeners.delete(listener) };
  }

  /** Ends every subscription. */
  close(): void {
    this.#listeners.clear();
  }

  #deliver(listener: TopicListener, event: FeedEvent): void {
    try {
      listener.deliver(event);
    } catch (err) {
      // A broken listener is dropped so it cannot affect the others (as EventHub does).
      this.#listeners.delete(listener);
      listener.onError?.(err);
    }
  }
}
