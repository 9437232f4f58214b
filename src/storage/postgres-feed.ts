import type { Client, ClientConfig, Notification, Pool } from "pg";
import pg from "pg";
import type { FeedEvent, SubscribeOptions, Subscription } from "../domain/shared-store";
import { checkTopic } from "../domain/shared-store-base";
import { FEED_CHANNEL } from "./postgres-schema";

const PAGE = 500;
const MAX_BACKOFF_MS = 2_000;

interface FeedSubscription {
  topic: string;
  lastSeq: number;
  deliver: (event: FeedEvent) => void;
  onError: ((err: unknown) => void) | undefined;
  pumping: boolean;
  again: boolean;
  closed: boolean;
}

/**
 * PostgresFeed delivers the change feed of one PostgresStore: one dedicated connection LISTENs on
 * {@link FEED_CHANNEL}; a notification for a topic makes each of its subscriptions read
 * `pairgate_events` after the last seq it delivered. Because the table, not the notification, carries
 * the events, nothing is lost when the listening connection drops: it reconnects with backoff and every
 * subscription catches up from its last seq.
 */
export class PostgresFeed {
  readonly #pool: Pool;
  readonly #config: ClientConfig;
  readonly #tenant: string;
  readonly #subs = new Set<FeedSubscription>();
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #backoffMs = 50;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(pool: Pool, config: ClientConfig, tenant: string) {
    this.#pool = pool;
    this.#config = config;
    this.#tenant = tenant;
  }

  /** See SharedStore.subscribe. Throws InvalidArgumentError for a bad topic. */
  subscribe(topic: string, deliver: (event: FeedEvent) => void, options: SubscribeOptions = {}): Subscription {
    checkTopic(topic);
    const sub: FeedSubscription = { topic, lastSeq: 0, deliver, onError: options.onError, pumping: false, again: false, closed: false };
    const ready = (async () => {
      for (;;) {
        try {
          await this.#listen();
          sub.lastSeq = options.afterSeq ?? (await this.#maxSeq(topic));
          break;
        } catch (err) {
          if (this.#closed || sub.closed) return;
          sub.onError?.(err);
          await sleep(this.#backoffMs);
        }
      }
      this.#subs.add(sub);
      await this.#pump(sub);
    })();
    return {
      ready,
      close: () => {
        sub.closed = true;
        this.#subs.delete(sub);
      },
    };
  }

  /** Whether the LISTEN connection is up. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Stops listening and ends every subscription. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    for (const sub of this.#subs) sub.closed = true;
    this.#subs.clear();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Ensures the LISTEN connection is up. */
  async #listen(): Promise<void> {
    if (this.#client !== undefined) return;
    this.#connecting ??= (async () => {
      const client = new pg.Client({ ...this.#config, application_name: "pairgate-feed" });
      client.on("notification", (msg: Notification) => this.#onNotify(msg));
      client.on("error", () => this.#lost(client));
      client.on("end", () => this.#lost(client));
      try {
        await client.connect();
        await client.query(`LISTEN ${FEED_CHANNEL}`);
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      if (this.#closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      this.#backoffMs = 50;
    })().finally(() => (this.#connecting = undefined));
    await this.#connecting;
  }

  #lost(client: Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#listen()
        .then(() => {
          // Whatever was committed while we were away is in the table: catch every subscription up.
          for (const sub of this.#subs) void this.#pump(sub);
        })
        .catch((err: unknown) => {
          for (const sub of this.#subs) sub.onError?.(err);
          this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
          this.#reconnect();
        });
    }, this.#backoffMs);
    this.#retry.unref();
  }

  #onNotify(msg: Notification): void {
    if (msg.channel !== FEED_CHANNEL || msg.payload === undefined) return;
    const slash = msg.payload.indexOf("/");
    if (msg.payload.slice(0, slash) !== this.#tenant) return;
    const topic = msg.payload.slice(slash + 1);
    for (const sub of this.#subs) if (sub.topic === topic) void this.#pump(sub);
  }

  /** Delivers every committed event of the subscription's topic after its last seq, in order; one pump at a time. */
  async #pump(sub: FeedSubscription): Promise<void> {
    if (sub.pumping) {
      sub.again = true;
      return;
    }
    sub.pumping = true;
    try {
      do {
        sub.again = false;
        const { rows } = await this.#pool.query<{ seq: string; event: unknown }>({
          name: "feed_read",
          text: "SELECT seq, event FROM pairgate_events WHERE tenant = $1 AND topic = $2 AND seq > $3 ORDER BY seq LIMIT $4",
          values: [this.#tenant, sub.topic, sub.lastSeq, PAGE],
        });
        for (const row of rows) {
          if (sub.closed) return;
          sub.lastSeq = Number(row.seq);
          try {
            sub.deliver({ seq: sub.lastSeq, topic: sub.topic, event: row.event });
          } catch (err) {
            sub.closed = true;
            this.#subs.delete(sub);
            sub.onError?.(err);
            return;
          }
        }
        if (rows.length === PAGE) sub.again = true;
      } while (sub.again && !sub.closed && !this.#closed);
    } catch (err) {
      // The read failed (connection trouble): the next notification or reconnect pumps again.
      if (!this.#closed && !sub.closed) {
        sub.onError?.(err);
        this.#reconnect();
      }
    } finally {
      sub.pumping = false;
    }
  }

  async #maxSeq(topic: string): Promise<number> {
    const { rows } = await this.#pool.query<{ seq: string | null }>({
      name: "feed_max",
      text: "SELECT max(seq) AS seq FROM pairgate_events WHERE tenant = $1 AND topic = $2",
      values: [this.#tenant, topic],
    });
    return Number(rows[0]?.seq ?? 0);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
