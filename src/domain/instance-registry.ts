import { randomBytes } from "node:crypto";
import type { Clock } from "./clock";
import type { Logger } from "./logger";
import { recordLockKey, type SharedStore } from "./shared-store";
import { KEY_SEP } from "./store";

/** What one daemon serving a shared store says about itself (store meta `instance NUL <id>`). */
export interface InstanceRecord {
  instanceId: string;
  host: string;
  pid: number;
  version: string;
  startedAtMs: number;
  /** When it last refreshed this record (Unix ms). */
  heartbeatAtMs: number;
  /** See src/config/fingerprint.ts. */
  configFingerprint: string;
  nodeListenAddress: string;
  /** The channel accounts ([channel, accountId]) with an adapter subscribed at this daemon. */
  adapterScopes: Array<[string, string]>;
}

/** How often a daemon refreshes its record; a record not refreshed for 3 intervals is dead. */
export const INSTANCE_HEARTBEAT_MS = 10_000;
/** Meta key prefix of the instance records (they belong to one store's live daemons and never travel). */
export const INSTANCE_KEY_PREFIX = "instance\u0000";
const PREFIX = INSTANCE_KEY_PREFIX;
const END = "instance\u0001";

/**
 * The daemons serving one shared store, as each records itself in the store's meta collection:
 * refreshed every {@link INSTANCE_HEARTBEAT_MS} (and at once when its adapters change), with an
 * expiry of three intervals, swept by whichever daemon refreshes next. It gives `GetDaemonStatus` the
 * list `pairgate doctor` compares (config fingerprints, versions) and approvals the adapter presence
 * of the other daemons (an adapter at B will deliver a notice queued by an approve at A). Only for a
 * store several daemons share; the embedded store has one daemon. Store failures are logged, never thrown.
 */
export class InstanceRegistry {
  readonly instanceId = randomBytes(8).toString("hex");
  readonly #store: SharedStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #self: () => Omit<InstanceRecord, "instanceId" | "heartbeatAtMs" | "adapterScopes">;
  readonly #adapterScopes: () => string[];
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #pending = false;
  #closed = false;

  constructor(options: {
    store: SharedStore;
    clock: Clock;
    logger: Logger;
    /** What this daemon records about itself now (read at every refresh: config reloads change it). */
    self: () => Omit<InstanceRecord, "instanceId" | "heartbeatAtMs" | "adapterScopes">;
    /** The scope keys (channel NUL account NUL) with an adapter subscribed here now. */
    adapterScopes: () => string[];
    intervalMs?: number;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#self = options.self;
    this.#adapterScopes = options.adapterScopes;
    this.#intervalMs = options.intervalMs ?? INSTANCE_HEARTBEAT_MS;
  }

  /** Writes this daemon's record and starts refreshing it. Throws UnavailableError (the first write only). */
  async start(): Promise<void> {
    await this.#write();
    this.#timer = setInterval(() => this.changed(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Refreshes the record soon (adapters subscribed or left); writes are serialized and coalesced. */
  changed(): void {
    if (this.#closed || this.#pending) return;
    this.#pending = true;
    this.#writing = this.#writing.then(async () => {
      this.#pending = false;
      if (this.#closed) return;
      try {
        await this.#write();
        await this.#store.sweep("meta", this.#clock.now(), 16);
      } catch (err) {
        this.#log.warn("cannot refresh this daemon's record in the shared store", { cause: String(err) });
      }
    });
  }

  /** The live records (refreshed within three intervals), this daemon's first. Throws UnavailableError. */
  async list(): Promise<InstanceRecord[]> {
    const now = this.#clock.now();
    const out: InstanceRecord[] = [];
    for await (const [, v] of this.#store.entries("meta", { gte: PREFIX, lt: END })) {
      const r = v as InstanceRecord;
      if (r.heartbeatAtMs + 3 * this.#intervalMs >= now) out.push(r);
    }
    return out.sort((a, b) => (a.instanceId === this.instanceId ? -1 : b.instanceId === this.instanceId ? 1 : a.startedAtMs - b.startedAtMs));
  }

  /** True when another live daemon has an adapter subscribed for `scopeKey`. Never throws (false on failure). */
  async adapterElsewhere(scopeKey: string): Promise<boolean> {
    try {
      const [channel, accountId] = scopeKey.split(KEY_SEP);
      return (await this.list()).some((r) => r.instanceId !== this.instanceId && r.adapterScopes.some(([c, a]) => c === channel && a === accountId));
    } catch {
      return false;
    }
  }

  /** Stops refreshing and removes this daemon's record. Never throws. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#writing;
    const key = PREFIX + this.instanceId;
    await this.#store.transact(recordLockKey("meta", key), async (tx) => tx.del("meta", key)).catch(() => undefined);
  }

  async #write(): Promise<void> {
    const now = this.#clock.now();
    const record: InstanceRecord = { ...this.#self(), instanceId: this.instanceId, heartbeatAtMs: now, adapterScopes: this.#adapterScopes().map((k) => k.split(KEY_SEP).slice(0, 2) as [string, string]) };
    const key = PREFIX + this.instanceId;
    await this.#store.transact(recordLockKey("meta", key), async (tx) => tx.put("meta", key, record, { expiresAtMs: now + 3 * this.#intervalMs }));
  }
}
