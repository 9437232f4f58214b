import { AuditLog } from "./audit-log";
import { ApproveMissCounter, type MissDelaySchedule } from "./approve-misses";
import { type ChannelSpec, normalizeAccountId, resolveChannel } from "./channels";
import type { Clock } from "./clock";
import type { DmAllowRecord, DmRequestRecord } from "./dm-records";
import type { AccountPolicy, DmPolicies } from "./dm-policies";
import type { AllowedSender, Notification, PairingEvent, PendingRequest } from "./dm-types";
import { EventHub } from "./event-hub";
import { type Logger, maskCode } from "./logger";
import { cryptoRandomInt, type RandomInt } from "./pairing-code";
import type { UnpairedResponse } from "./reply-text";
import { applyOps, type SharedStore, type StoreTx, type Subscription } from "./shared-store";
import { del, KEY_SEP, ms16, prefixEnd, put, scopeKey, type WriteOp } from "./store";

/** Change-feed topic of pairing events (every instance's watchers see every instance's changes). */
export const DM_EVENTS_TOPIC = "dm.events";
/** Change-feed topic of approval notices for adapters (delivered by the instance the adapter is on). */
export const DM_NOTIFY_TOPIC = "dm.notify";

/** Reference constants (Clawdbot/OpenClaw): pending TTL 1 h from creation, 3 pending per channel account. */
export const DEFAULT_PENDING_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_MAX_PENDING = 3;
/** Messages older than daemon start minus this get no reply (reference issue #834). */
export const DEFAULT_HISTORY_GRACE_MS = 30_000;

/** Dependencies and settings of the DM pairing engine. */
export interface DmPairingOptions {
  store: SharedStore;
  clock: Clock;
  logger: Logger;
  policies: DmPolicies;
  /** When the daemon started (Unix ms); the history-sync rule counts from here. */
  startedAtMs: number;
  /** @default DEFAULT_PENDING_TTL_MS */
  pendingTtlMs?: number;
  /** @default DEFAULT_MAX_PENDING */
  maxPending?: number;
  /** @default DEFAULT_HISTORY_GRACE_MS */
  historyGraceMs?: number;
  /** Source of code randomness. @default crypto.randomInt */
  randomInt?: RandomInt;
  /** Product and command name used in replies. @default "pairgate" */
  productName?: string;
  /** What an unknown sender who gets a code is sent. @default "branded" */
  unpairedResponse?: UnpairedResponse;
  /** The branded reply's template (see reply-text.ts); undefined = the built-in text. */
  replyTemplate?: string | undefined;
  /** The audit trail (one per daemon). @default a new AuditLog on `store` */
  audit?: AuditLog;
  /** Pending requests across every channel account. @default DEFAULT_MAX_PENDING_TOTAL */
  maxPendingTotal?: number;
  /** Delay schedule of repeated approve misses. @default defaultMissDelays (1 s doubling to 30 s) */
  approveMissDelays?: MissDelaySchedule;
  /** How a delayed miss waits. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Adapter presence across daemons sharing the store (src/domain/instance-registry.ts): told when
   * adapters subscribe or leave here, asked whether another daemon has one. @default none (one daemon)
   */
  presence?: AdapterPresence;
}

/** Adapter presence at the other daemons of a shared store (implemented by InstanceRegistry). */
export interface AdapterPresence {
  /** This daemon's adapters changed (subscribed or left). Never throws. */
  changed(): void;
  /** True when another daemon has an adapter subscribed for `scopeKey`. Never throws. */
  adapterElsewhere(scopeKey: string): Promise<boolean>;
}

/** Pending requests across all channel accounts (dm.maxPendingTotal). */
export const DEFAULT_MAX_PENDING_TOTAL = 100;

/** The settings a config reload may change while the daemon runs (see {@link DmContext.reconfigure}). */
export interface DmLiveSettings {
  policies: DmPolicies;
  pendingTtlMs: number;
  maxPending: number;
  historyGraceMs: number;
  unpairedResponse: UnpairedResponse;
  replyTemplate: string | undefined;
  maxPendingTotal?: number;
}

/** One channel account, resolved and normalized; `key` is its store key prefix. */
export interface Scope {
  spec: ChannelSpec;
  channel: string;
  accountId: string;
  key: string;
}

/**
 * DmContext is what every DM use case shares: dependencies, settings, in-memory summaries and the
 * request bookkeeping that inbound, approval and expiry all use. Mutations of one channel account run
 * in `store.transact(scope.key, …)` (one lock across every daemon sharing the store); their events are
 * published in the same transaction and reach `events` / `feeds` from the store's change feed.
 */
export class DmContext {
  readonly store: SharedStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Builds the audit record each state change writes in its own batch. */
  readonly audit: AuditLog;
  // The settings below change only through reconfigure() (config reload).
  policies: DmPolicies;
  readonly startedAtMs: number;
  ttlMs: number;
  maxPending: number;
  graceMs: number;
  unpairedResponse: UnpairedResponse;
  replyTemplate: string | undefined;
  maxPendingTotal: number;
  readonly rand: RandomInt;
  /** Wrong / malformed codes per (socket role, channel account); see dm-approval's `approveMissed`. */
  readonly misses: ApproveMissCounter;
  readonly sleep: (ms: number) => Promise<void>;
  readonly product: string;
  /** Pairing events (requested, approved, rejected, expired, revoked) of every instance, from the feed. */
  readonly events = new EventHub<PairingEvent>();
  readonly #subscriptions: Subscription[];
  /** Unknown senders turned away by a full queue since start, per scope key. */
  readonly queueFullDrops = new Map<string, number>();
  /** Monotonic time of the last "queue full" warning per channel account (see Clock.monotonic). */
  readonly queueFullLoggedAt = new Map<string, number>();
  /**
   * Per scope, how many request records the store holds and a lower bound of their earliest expiry,
   * loaded by the first scan of the scope and kept in step under the scope lock. It lets the hot
   * "queue full" path answer without iterating the store: when `stored >= max` and nothing can have
   * expired yet, every stored request is live. Kept only when the store is exclusive (another daemon
   * sharing the store would change what it counts).
   */
  readonly occupancy = new Map<string, { stored: number; nextExpiryMs: number }>();
  /**
   * Embedded store only: Unix ms before which the accounts together are known to hold
   * `maxPendingTotal` live requests (the earliest live expiry seen by the last full global count), so
   * the global "queue full" answer needs no scan. Any removal bumps {@link removals} and clears it.
   */
  globalFullUntilMs = 0;
  /** Request removals since start (a global count taken before one must not be cached after it). */
  removals = 0;
  /** Live notification feeds (adapter streams) per scope key. */
  readonly feeds = new Map<string, EventHub<Notification>>();
  readonly presence: AdapterPresence | undefined;

  constructor(options: DmPairingOptions) {
    this.store = options.store;
    this.presence = options.presence;
    this.clock = options.clock;
    this.log = options.logger;
    this.audit = options.audit ?? new AuditLog(options.store, options.clock);
    this.policies = options.policies;
    this.startedAtMs = options.startedAtMs;
    this.ttlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.graceMs = options.historyGraceMs ?? DEFAULT_HISTORY_GRACE_MS;
    this.rand = options.randomInt ?? cryptoRandomInt;
    this.product = options.productName ?? "pairgate";
    this.unpairedResponse = options.unpairedResponse ?? "branded";
    this.replyTemplate = options.replyTemplate;
    this.maxPendingTotal = options.maxPendingTotal ?? DEFAULT_MAX_PENDING_TOTAL;
    this.misses = new ApproveMissCounter(options.clock, options.approveMissDelays);
    // Unref: a delayed miss never keeps a stopping daemon alive.
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
    const onError = (err: unknown): void => this.log.error("change feed failed: pairing events from other instances are not seen", { cause: String(err) });
    this.#subscriptions = [
      this.store.subscribe(DM_EVENTS_TOPIC, (e) => this.events.emit(e.event as PairingEvent), { onError }),
      this.store.subscribe(DM_NOTIFY_TOPIC, (e) => {
        const n = e.event as Notification;
        this.feeds.get(scopeKey(n.channel, n.accountId))?.emit(n);
      }, { onError }),
    ];
  }

  /** Resolves once the change-feed subscriptions are live. */
  async ready(): Promise<void> {
    await Promise.all(this.#subscriptions.map((s) => s.ready));
  }

  /** Ends the change-feed subscriptions (at daemon stop). */
  close(): void {
    for (const s of this.#subscriptions) s.close();
  }

  /** Publishes a pairing event in `tx` (delivered to every instance's watchers after commit). */
  publish(tx: StoreTx, event: PairingEvent): void {
    tx.publish(DM_EVENTS_TOPIC, event);
  }

  /**
   * Swaps in new live settings, all at once and synchronously (no call sees a mix of old and new).
   * Requests already pending keep the expiry they were created with; the new TTL applies to new ones.
   */
  reconfigure(settings: DmLiveSettings): void {
    this.policies = settings.policies;
    this.ttlMs = settings.pendingTtlMs;
    this.maxPending = settings.maxPending;
    this.graceMs = settings.historyGraceMs;
    this.unpairedResponse = settings.unpairedResponse;
    this.replyTemplate = settings.replyTemplate;
    if (settings.maxPendingTotal !== undefined) this.maxPendingTotal = settings.maxPendingTotal;
    this.globalFullUntilMs = 0;
  }

  /** Resolves a channel account. Throws InvalidArgumentError for an unknown channel or bad account id. */
  scope(channel: string, accountId: string): Scope {
    const spec = resolveChannel(channel);
    const account = normalizeAccountId(accountId);
    return { spec, channel: spec.id, accountId: account, key: scopeKey(spec.id, account) };
  }

  /** Why `senderId` is allowed in `scope` (config or approved store), or undefined. Throws UnavailableError. */
  async allowedBy(scope: Scope, policy: AccountPolicy, senderId: string, tx?: StoreTx): Promise<string | undefined> {
    if (policy.allowSet.has(senderId)) return "sender is in config allowFrom";
    if ((await (tx ?? this.store).get("dmAllow", scope.key + senderId)) !== undefined) return "sender is approved";
    return undefined;
  }

  /** The write ops that remove one request and its indexes. */
  removeRequestOps(scope: Scope, senderId: string, record: DmRequestRecord): WriteOp[] {
    return [
      del("dmRequests", scope.key + senderId),
      del("dmCodes", scope.key + record.code),
      del("dmExpiry", expiryKey(record.expiresAtMs, scope, senderId)),
    ];
  }

  /** The write op moving the scope's approved counter by `delta` (read in `tx`). */
  async statsOp(tx: StoreTx, scope: Scope, delta: number): Promise<WriteOp> {
    const stats = await tx.get("dmScopeStats", scope.key);
    return put("dmScopeStats", scope.key, { approvedCount: Math.max(0, (stats?.approvedCount ?? 0) + delta) });
  }

  /**
   * Expires every dead request of `scope` and counts the live ones (one scan), in `tx`, a transaction
   * of the scope lock. The occupancy summary is updated by {@link noteScanned} after the commit.
   */
  async expireScope(tx: StoreTx, scope: Scope, now: number): Promise<{ expired: Array<[string, DmRequestRecord]>; live: number; nextExpiryMs: number }> {
    const dead: Array<[string, DmRequestRecord]> = [];
    let live = 0;
    let nextExpiry = Infinity;
    for await (const [key, record] of tx.entries("dmRequests", scopeRange(scope))) {
      if (isLive(record, now)) {
        live++;
        nextExpiry = Math.min(nextExpiry, record.expiresAtMs);
      } else dead.push([key.slice(scope.key.length), record]);
    }
    for (const [senderId, record] of dead) this.expireOne(tx, scope, senderId, record);
    return { expired: dead, live, nextExpiryMs: nextExpiry };
  }

  /** After a committed {@link expireScope}: records the scope's summary and logs what expired. */
  noteScanned(scope: Scope, scan: { expired: Array<[string, DmRequestRecord]>; live: number; nextExpiryMs: number }): void {
    if (this.store.exclusive) this.occupancy.set(scope.key, { stored: scan.live, nextExpiryMs: scan.nextExpiryMs });
    for (const [senderId, record] of scan.expired) this.logExpired(scope, senderId, record);
  }

  /**
   * Keeps the scope's occupancy summary in step after a successful write that added (+1, with its
   * expiry) or removed (-1) one request record. A removal leaves the expiry bound as it is: a bound
   * that is too early only costs one extra scan. Unknown scopes stay unknown until their first scan.
   */
  noteStored(scope: Scope, delta: 1 | -1, expiresAtMs = Infinity): void {
    if (!this.store.exclusive) return;
    if (delta < 0) {
      this.removals++;
      this.globalFullUntilMs = 0;
    }
    const known = this.occupancy.get(scope.key);
    if (known === undefined) return;
    known.stored = Math.max(0, known.stored + delta);
    known.nextExpiryMs = Math.min(known.nextExpiryMs, expiresAtMs);
  }

  /** Removes one expired request in `tx` (a scope-lock transaction) and publishes "expired" with it. */
  expireOne(tx: StoreTx, scope: Scope, senderId: string, record: DmRequestRecord): void {
    const audit = this.audit.op({ action: "pairing.expire", role: "daemon", channel: scope.channel, accountId: scope.accountId, subjectId: senderId });
    applyOps(tx, [...this.removeRequestOps(scope, senderId, record), audit]);
    this.publish(tx, {
      type: "expired",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId,
      code: record.code,
      atMs: this.clock.now(),
      meta: record.meta,
    });
  }

  /** Logs one committed expiry. */
  logExpired(scope: Scope, senderId: string, record: DmRequestRecord): void {
    this.log.info("pairing request expired", {
      channel: scope.channel,
      account: scope.accountId,
      sender: senderId,
      code: maskCode(record.code),
    });
  }
}

/** Whether a request is still live at `now`. */
export function isLive(record: DmRequestRecord, now: number): boolean {
  return now < record.expiresAtMs;
}

/** The key range of one scope. */
export function scopeRange(scope: Scope): { gte: string; lt: string } {
  return { gte: scope.key, lt: prefixEnd(scope.key) };
}

/** The `dmExpiry` key of a request. */
export function expiryKey(expiresAtMs: number, scope: Scope, senderId: string): string {
  return ms16(expiresAtMs) + KEY_SEP + scope.key + senderId;
}

/** A stored request as the owner sees it. */
export function toPending(scope: Scope, senderId: string, r: DmRequestRecord): PendingRequest {
  return {
    code: r.code,
    channel: scope.channel,
    accountId: scope.accountId,
    senderId,
    meta: r.meta,
    createdAtMs: r.createdAtMs,
    lastSeenAtMs: r.lastSeenAtMs,
    expiresAtMs: r.expiresAtMs,
  };
}

/** An approved-store entry as the owner sees it. */
export function approvedView(scope: Scope, senderId: string, r: DmAllowRecord): AllowedSender {
  return {
    channel: scope.channel,
    accountId: scope.accountId,
    senderId,
    source: "approved",
    approvedAtMs: r.approvedAtMs,
    meta: r.meta,
    via: r.via,
  };
}

/** A config allowFrom entry as the owner sees it. */
export function configView(scope: Scope, senderId: string): AllowedSender {
  return { channel: scope.channel, accountId: scope.accountId, senderId, source: "config", approvedAtMs: 0, meta: {}, via: "config" };
}
