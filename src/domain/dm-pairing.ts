import { randomBytes } from "node:crypto";
import { type ChannelSpec, normalizeAccountId, normalizeSenderId, resolveChannel } from "./channels";
import type { Clock } from "./clock";
import type { DmAllowRecord, DmOutboxRecord, DmRequestRecord } from "./dm-records";
import type { AccountPolicy, DmPolicies, DmPolicyName } from "./dm-policies";
import { InternalError, InvalidArgumentError, FailedPreconditionError, NotFoundError } from "./errors";
import { EventHub } from "./event-hub";
import { KeyedMutex } from "./keyed-mutex";
import { type Logger, maskCode } from "./logger";
import {
  decodePageToken,
  effectivePageSize,
  encodePageToken,
  type Page,
  type PageRequest,
} from "./paging";
import {
  cryptoRandomInt,
  generatePairingCode,
  normalizePairingCode,
  PAIRING_CODE_MAX_ATTEMPTS,
  type RandomInt,
} from "./pairing-code";
import { del, KEY_SEP, prefixEnd, put, scopeKey, type Store, type WriteOp } from "./store";

/** Reference constants (Clawdbot/OpenClaw): pending TTL 1 h from creation, 3 pending per channel account. */
export const DEFAULT_PENDING_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_MAX_PENDING = 3;
/** Messages older than daemon start minus this get no reply (reference issue #834). */
export const DEFAULT_HISTORY_GRACE_MS = 30_000;
/** The "queue full" warning is logged at most this often per channel account. */
export const QUEUE_FULL_LOG_INTERVAL_MS = 60_000;
/** Limits on sender_meta. */
export const MAX_META_ENTRIES = 16;
export const MAX_META_KEY_LENGTH = 64;
export const MAX_META_VALUE_LENGTH = 256;

/** The verdict on one inbound message. */
export type Decision = "allow" | "pairing-required" | "deny";

/** What CheckInbound returns. */
export interface InboundVerdict {
  decision: Decision;
  /** Text for the adapter to send; "" when nothing should be sent. */
  replyText: string;
  /** The sender's live code, new or reused; "" when there is none. */
  pairingCode: string;
  reason: string;
  senderId: string;
  accountId: string;
  codeExpiresAtMs: number;
}

/** One inbound message as the adapter reports it. */
export interface InboundMessage {
  channel: string;
  accountId: string;
  senderId: string;
  senderMeta: Record<string, string>;
  /** 0 = unknown. */
  sentAtMs: number;
}

/** A pending request as shown to the owner. */
export interface PendingRequest {
  code: string;
  channel: string;
  accountId: string;
  senderId: string;
  meta: Record<string, string>;
  createdAtMs: number;
  lastSeenAtMs: number;
  expiresAtMs: number;
}

/** One allowlist entry as shown to the owner. */
export interface AllowedSender {
  channel: string;
  accountId: string;
  senderId: string;
  source: "config" | "approved";
  approvedAtMs: number;
  meta: Record<string, string>;
  via: "config" | "pairing-code" | "added";
}

/** What happened to an approval notice. */
export type NotifyStatus = "not-requested" | "queued" | "no-adapter";

/** The result of an approval. */
export interface ApprovalResult {
  sender: AllowedSender;
  notifyStatus: NotifyStatus;
  notificationId: string;
}

/** The state of one channel account. */
export interface ChannelStatus {
  channel: string;
  accountId: string;
  policy: DmPolicyName;
  pendingCount: number;
  allowedCount: number;
  configAllowCount: number;
  adaptersConnected: number;
  pendingLimit: number;
  queueFullDrops: number;
  undeliveredNotifications: number;
}

/** A pairing event for watchers. */
export interface PairingEvent {
  type: "requested" | "approved" | "rejected" | "expired" | "revoked";
  channel: string;
  accountId: string;
  senderId: string;
  code: string;
  atMs: number;
  meta: Record<string, string>;
}

/** A notification to deliver to a sender. */
export type Notification = DmOutboxRecord;

/** Dependencies and settings of {@link DmPairing}. */
export interface DmPairingOptions {
  store: Store;
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
}

interface Scope {
  spec: ChannelSpec;
  channel: string;
  accountId: string;
  key: string;
}

/**
 * DmPairing is the DM pairing engine: it decides on inbound messages, issues and approves pairing codes,
 * keeps the per channel account allowlist and the notification outbox.
 *
 * Every state transition is one atomic store write; grants, rejections and revocations are synced.
 * Mutations of one channel account are serialized in process, so concurrent messages from one sender
 * get one code and two approvals of one code grant once.
 */
export class DmPairing {
  /** Pairing events (requested, approved, rejected, expired, revoked). */
  readonly events = new EventHub<PairingEvent>();

  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #policies: DmPolicies;
  readonly #startedAtMs: number;
  readonly #ttlMs: number;
  readonly #maxPending: number;
  readonly #graceMs: number;
  readonly #rand: RandomInt;
  readonly #product: string;
  readonly #mutex = new KeyedMutex();
  readonly #queueFullDrops = new Map<string, number>();
  /** When "queue full" was last logged per scope (the log line is rate-limited, the counter is not). */
  readonly #queueFullLoggedAt = new Map<string, number>();
  /**
   * Per scope, how many request records the store holds and a lower bound of their earliest expiry,
   * loaded by the first scan of the scope and kept in step under the scope lock. It lets the hot
   * "queue full" path answer without iterating the store: when `stored >= max` and nothing can have
   * expired yet, every stored request is live.
   */
  readonly #occupancy = new Map<string, { stored: number; nextExpiryMs: number }>();
  readonly #feeds = new Map<string, EventHub<Notification>>();

  constructor(options: DmPairingOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#policies = options.policies;
    this.#startedAtMs = options.startedAtMs;
    this.#ttlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.#graceMs = options.historyGraceMs ?? DEFAULT_HISTORY_GRACE_MS;
    this.#rand = options.randomInt ?? cryptoRandomInt;
    this.#product = options.productName ?? "pairgate";
  }

  /**
   * Decides on one inbound direct message. Creates or reuses a pending request for unknown senders
   * under dmPolicy "pairing". Throws InvalidArgumentError for an unknown channel or malformed input.
   */
  async checkInbound(message: InboundMessage): Promise<InboundVerdict> {
    const scope = this.#scope(message.channel, message.accountId);
    const senderId = normalizeSenderId(scope.spec, message.senderId);
    const meta = sanitizeMeta(message.senderMeta);
    const policy = this.#policies.resolve(scope.channel, scope.accountId);
    const base = { senderId, accountId: scope.accountId, pairingCode: "", replyText: "", codeExpiresAtMs: 0 };

    if (policy.policy === "disabled") {
      return { ...base, decision: "deny", reason: "direct messages are disabled (dmPolicy=disabled)" };
    }
    if (policy.policy === "open") return { ...base, decision: "allow", reason: "dmPolicy=open" };
    const allowedBy = this.#allowedBy(scope, policy, senderId);
    if (allowedBy !== undefined) return { ...base, decision: "allow", reason: allowedBy };
    if (policy.policy === "allowlist") {
      this.#log.info("blocked sender not on allowlist", { channel: scope.channel, account: scope.accountId });
      return { ...base, decision: "deny", reason: "sender is not on the allowlist (dmPolicy=allowlist)" };
    }
    if (message.sentAtMs > 0 && message.sentAtMs < this.#startedAtMs - this.#graceMs) {
      return {
        ...base,
        decision: "pairing-required",
        reason: "message predates daemon start by more than 30 s (history sync): no reply, no pairing request",
      };
    }
    return this.#mutex.run(scope.key, () => this.#pairingPath(scope, policy, senderId, meta));
  }

  async #pairingPath(
    scope: Scope,
    policy: AccountPolicy,
    senderId: string,
    meta: Record<string, string>,
  ): Promise<InboundVerdict> {
    const base = { senderId, accountId: scope.accountId };
    // Re-check under the lock: an approval may have completed while we waited.
    const allowedBy = this.#allowedBy(scope, policy, senderId);
    if (allowedBy !== undefined) {
      return { ...base, decision: "allow", reason: allowedBy, pairingCode: "", replyText: "", codeExpiresAtMs: 0 };
    }
    const now = this.#clock.now();
    const requestKey = scope.key + senderId;
    const existing = this.#store.collection("dmRequests").getSync(requestKey);
    if (existing !== undefined && this.#isLive(existing, now)) {
      const updated: DmRequestRecord = {
        ...existing,
        lastSeenAtMs: now,
        meta: Object.keys(meta).length > 0 ? meta : existing.meta,
      };
      await this.#store.write([put("dmRequests", requestKey, updated)], { sync: false });
      return {
        ...base,
        decision: "pairing-required",
        pairingCode: existing.code,
        replyText: "",
        codeExpiresAtMs: existing.expiresAtMs,
        reason: "pairing request already pending (code reused, no reply)",
      };
    }

    // Only scan the scope (expiring dead requests, counting live ones) when the summary cannot prove
    // the queue is full.
    const known = this.#occupancy.get(scope.key);
    const pending =
      known !== undefined && known.stored >= this.#maxPending && now < known.nextExpiryMs
        ? known.stored
        : (await this.#expireScope(scope, now)).live;
    if (pending >= this.#maxPending) {
      const drops = (this.#queueFullDrops.get(scope.key) ?? 0) + 1;
      this.#queueFullDrops.set(scope.key, drops);
      const reason = `pairing queue full (${pending} pending for ${scope.channel}/${scope.accountId}); no code issued`;
      if (now - (this.#queueFullLoggedAt.get(scope.key) ?? -Infinity) >= QUEUE_FULL_LOG_INTERVAL_MS) {
        this.#queueFullLoggedAt.set(scope.key, now);
        this.#log.warn("pairing queue full: unknown senders turned away (logged at most once a minute per account)", {
          channel: scope.channel,
          account: scope.accountId,
          pending,
          limit: this.#maxPending,
          turnedAwaySinceStart: drops,
        });
      }
      return { ...base, decision: "pairing-required", pairingCode: "", replyText: "", codeExpiresAtMs: 0, reason };
    }

    const code = await this.#uniqueCode(scope);
    const record: DmRequestRecord = {
      code,
      createdAtMs: now,
      lastSeenAtMs: now,
      expiresAtMs: now + this.#ttlMs,
      meta,
    };
    await this.#store.write(
      [
        put("dmRequests", requestKey, record),
        put("dmCodes", scope.key + code, { senderId }),
        put("dmExpiry", expiryKey(record.expiresAtMs, scope, senderId), {
          channel: scope.channel,
          accountId: scope.accountId,
          senderId,
        }),
      ],
      { sync: false },
    );
    this.#noteStored(scope, +1, record.expiresAtMs);
    this.#log.info("pairing request created", {
      channel: scope.channel,
      account: scope.accountId,
      code: maskCode(code),
    });
    this.events.emit({ type: "requested", channel: scope.channel, accountId: scope.accountId, senderId, code, atMs: now, meta });
    return {
      ...base,
      decision: "pairing-required",
      pairingCode: code,
      replyText: this.#replyText(scope, senderId, code),
      codeExpiresAtMs: record.expiresAtMs,
      reason: "new pairing request: send the reply to the sender",
    };
  }

  /**
   * Lists the live pending requests of one channel account, oldest first.
   * Throws InvalidArgumentError for an unknown channel or a bad page token.
   */
  async listRequests(channel: string, accountId: string, page: PageRequest): Promise<Page<PendingRequest>> {
    const scope = this.#scope(channel, accountId);
    const size = effectivePageSize(page.pageSize);
    const skip = page.pageToken === "" ? 0 : decodePageToken(page.pageToken, isOffsetCursor).offset;
    const now = this.#clock.now();
    const all: PendingRequest[] = [];
    for await (const [key, record] of this.#store.collection("dmRequests").entries(scopeRange(scope))) {
      if (this.#isLive(record, now)) all.push(toPending(scope, key.slice(scope.key.length), record));
    }
    all.sort((a, b) => a.createdAtMs - b.createdAtMs || a.senderId.localeCompare(b.senderId));
    const items = all.slice(skip, skip + size);
    const next = skip + size < all.length ? encodePageToken({ offset: skip + size }) : "";
    return { items, nextPageToken: next };
  }

  /**
   * Approves a code: removes the request and adds its sender to the approved store in one synced
   * write; with `notify`, the approval notice goes into the outbox in the same write.
   * Throws NotFoundError when no live request has the code, InvalidArgumentError for bad input.
   */
  async approve(channel: string, accountId: string, rawCode: string, notify: boolean): Promise<ApprovalResult> {
    const scope = this.#scope(channel, accountId);
    const code = normalizePairingCode(rawCode);
    const result = await this.#mutex.run(scope.key, async () => {
      const { senderId, record } = await this.#findLiveByCode(scope, code);
      const now = this.#clock.now();
      const allow: DmAllowRecord = { approvedAtMs: now, via: "pairing-code", meta: record.meta };
      const alreadyApproved = (await this.#store.collection("dmAllow").get(scope.key + senderId)) !== undefined;
      const ops: WriteOp[] = [
        ...this.#removeRequestOps(scope, senderId, record),
        put("dmAllow", scope.key + senderId, allow),
      ];
      if (!alreadyApproved) ops.push(await this.#statsOp(scope, +1));
      let notification: Notification | undefined;
      if (notify) {
        notification = {
          id: notificationId(scope, now),
          kind: "pairing-approved",
          channel: scope.channel,
          accountId: scope.accountId,
          senderId,
          text: `✅ ${this.#product} access approved. Send a message to start chatting.`,
          createdAtMs: now,
        };
        ops.push(put("dmOutbox", outboxKey(notification.id), notification));
      }
      await this.#store.write(ops, { sync: true });
      this.#noteStored(scope, -1);
      return { senderId, record, allow, notification, now };
    });
    const { senderId, record, allow, notification, now } = result;
    this.#log.info("pairing approved", { channel: scope.channel, account: scope.accountId, code: maskCode(code) });
    this.events.emit({ type: "approved", channel: scope.channel, accountId: scope.accountId, senderId, code, atMs: now, meta: record.meta });
    let notifyStatus: NotifyStatus = "not-requested";
    if (notification !== undefined) {
      const feed = this.#feeds.get(scope.key);
      notifyStatus = feed !== undefined && feed.size > 0 ? "queued" : "no-adapter";
      feed?.emit(notification);
    }
    return {
      sender: approvedView(scope, senderId, allow),
      notifyStatus,
      notificationId: notification?.id ?? "",
    };
  }

  /**
   * Rejects a pending request: removes it without granting (synced). The sender's next message starts
   * over. Throws NotFoundError or InvalidArgumentError.
   */
  async reject(channel: string, accountId: string, rawCode: string): Promise<PendingRequest> {
    const scope = this.#scope(channel, accountId);
    const code = normalizePairingCode(rawCode);
    const { senderId, record } = await this.#mutex.run(scope.key, async () => {
      const found = await this.#findLiveByCode(scope, code);
      await this.#store.write(this.#removeRequestOps(scope, found.senderId, found.record), { sync: true });
      this.#noteStored(scope, -1);
      return found;
    });
    this.#log.info("pairing rejected", { channel: scope.channel, account: scope.accountId, code: maskCode(code) });
    this.events.emit({
      type: "rejected",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId,
      code,
      atMs: this.#clock.now(),
      meta: record.meta,
    });
    return toPending(scope, senderId, record);
  }

  /**
   * Lists the allowlist of one channel account: config entries first, then approved senders in id
   * order. Throws InvalidArgumentError for an unknown channel or a bad page token.
   */
  async listAllowed(channel: string, accountId: string, page: PageRequest): Promise<Page<AllowedSender>> {
    const scope = this.#scope(channel, accountId);
    const policy = this.#policies.resolve(scope.channel, scope.accountId);
    const size = effectivePageSize(page.pageSize);
    const cursor: AllowCursor = page.pageToken === "" ? { c: 0 } : decodePageToken(page.pageToken, isAllowCursor);
    const items: AllowedSender[] = [];
    let after = "s" in cursor ? cursor.s : "";
    if ("c" in cursor) {
      let i = cursor.c;
      while (i < policy.allowFrom.length && items.length < size) items.push(configView(scope, policy.allowFrom[i++] ?? ""));
      if (items.length === size && i < policy.allowFrom.length) return { items, nextPageToken: encodePageToken({ c: i }) };
    }
    // Fetch one more than needed to learn whether another page exists.
    const want = size - items.length;
    const range = after === "" ? scopeRange(scope) : { gt: scope.key + after, lt: prefixEnd(scope.key) };
    let fetched = 0;
    let more = false;
    for await (const [key, record] of this.#store.collection("dmAllow").entries({ ...range, limit: want + 1 })) {
      if (fetched++ === want) {
        more = true;
        break;
      }
      after = key.slice(scope.key.length);
      items.push(approvedView(scope, after, record));
    }
    return { items, nextPageToken: more ? encodePageToken({ s: after }) : "" };
  }

  /**
   * Adds a sender to the approved store without a code (synced). Returns `created` false if it was
   * already there. Throws InvalidArgumentError ("*" is refused: wildcards come only from config).
   */
  async addAllowed(channel: string, accountId: string, rawSender: string): Promise<{ sender: AllowedSender; created: boolean }> {
    const scope = this.#scope(channel, accountId);
    if (rawSender.trim() === "*") {
      throw new InvalidArgumentError('"*" cannot be stored; a wildcard can only come from config (dmPolicy "open")', "sender_id");
    }
    const senderId = normalizeSenderId(scope.spec, rawSender);
    return this.#mutex.run(scope.key, async () => {
      const existing = await this.#store.collection("dmAllow").get(scope.key + senderId);
      if (existing !== undefined) return { sender: approvedView(scope, senderId, existing), created: false };
      const allow: DmAllowRecord = { approvedAtMs: this.#clock.now(), via: "added", meta: {} };
      await this.#store.write([put("dmAllow", scope.key + senderId, allow), await this.#statsOp(scope, +1)], { sync: true });
      this.#log.info("sender added to allowlist", { channel: scope.channel, account: scope.accountId });
      return { sender: approvedView(scope, senderId, allow), created: true };
    });
  }

  /**
   * Removes an approved sender (synced) and emits "revoked".
   * Throws FailedPreconditionError when the sender is allowed only by config, NotFoundError when it is
   * not on the list at all.
   */
  async revokeAllowed(channel: string, accountId: string, rawSender: string): Promise<AllowedSender> {
    const scope = this.#scope(channel, accountId);
    const senderId = normalizeSenderId(scope.spec, rawSender);
    const policy = this.#policies.resolve(scope.channel, scope.accountId);
    const removed = await this.#mutex.run(scope.key, async () => {
      const existing = await this.#store.collection("dmAllow").get(scope.key + senderId);
      if (existing === undefined) {
        if (policy.allowSet.has(senderId)) {
          throw new FailedPreconditionError(
            `${scope.channel} sender ${senderId} is allowed by the config file (${policy.configPath}.allowFrom); ` +
              "remove it there and restart the daemon",
          );
        }
        throw new NotFoundError(`${scope.channel} sender ${senderId} is not on the approved list`);
      }
      await this.#store.write([del("dmAllow", scope.key + senderId), await this.#statsOp(scope, -1)], { sync: true });
      return existing;
    });
    this.#log.info("sender revoked", { channel: scope.channel, account: scope.accountId });
    this.events.emit({
      type: "revoked",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId,
      code: "",
      atMs: this.#clock.now(),
      meta: removed.meta,
    });
    return approvedView(scope, senderId, removed);
  }

  /** Reports every channel account: supported channels' default accounts, configured and used accounts. */
  async listChannels(): Promise<ChannelStatus[]> {
    const scopes = new Map<string, { channel: string; accountId: string }>();
    for (const s of this.#policies.configuredScopes()) scopes.set(scopeKey(s.channel, s.accountId), s);
    for await (const [key] of this.#store.collection("dmScopeStats").entries({})) {
      const [channel = "", accountId = ""] = key.split(KEY_SEP);
      scopes.set(key, { channel, accountId });
    }
    const now = this.#clock.now();
    const pendingByScope = new Map<string, number>();
    for await (const [key, record] of this.#store.collection("dmRequests").entries({})) {
      if (!this.#isLive(record, now)) continue;
      const [channel = "", accountId = ""] = key.split(KEY_SEP);
      const sk = scopeKey(channel, accountId);
      scopes.set(sk, { channel, accountId });
      pendingByScope.set(sk, (pendingByScope.get(sk) ?? 0) + 1);
    }
    const outboxByScope = new Map<string, number>();
    for await (const [, n] of this.#store.collection("dmOutbox").entries({})) {
      const sk = scopeKey(n.channel, n.accountId);
      scopes.set(sk, { channel: n.channel, accountId: n.accountId });
      outboxByScope.set(sk, (outboxByScope.get(sk) ?? 0) + 1);
    }
    const out: ChannelStatus[] = [];
    for (const [sk, { channel, accountId }] of scopes) {
      const policy = this.#policies.resolve(channel, accountId);
      const stats = await this.#store.collection("dmScopeStats").get(sk);
      out.push({
        channel,
        accountId,
        policy: policy.policy,
        pendingCount: pendingByScope.get(sk) ?? 0,
        allowedCount: policy.allowFrom.length + (stats?.approvedCount ?? 0),
        configAllowCount: policy.allowFrom.length,
        adaptersConnected: this.#feeds.get(sk)?.size ?? 0,
        pendingLimit: this.#maxPending,
        queueFullDrops: this.#queueFullDrops.get(sk) ?? 0,
        undeliveredNotifications: outboxByScope.get(sk) ?? 0,
      });
    }
    const order = new Map(this.#policies.configuredScopes().map((s, i) => [s.channel, i]));
    out.sort((a, b) => (order.get(a.channel) ?? 99) - (order.get(b.channel) ?? 99) || a.accountId.localeCompare(b.accountId));
    return out;
  }

  /**
   * Opens a notification feed for one channel account (an adapter's SubscribeNotifications stream):
   * `deliver` first receives every unacknowledged notification, then new ones. Each id is delivered
   * once per feed. Returns the function that closes the feed. Throws InvalidArgumentError.
   */
  async openNotificationFeed(channel: string, accountId: string, deliver: (n: Notification) => void): Promise<() => void> {
    const scope = this.#scope(channel, accountId);
    let hub = this.#feeds.get(scope.key);
    if (hub === undefined) {
      hub = new EventHub<Notification>();
      this.#feeds.set(scope.key, hub);
    }
    const seen = new Set<string>();
    const once = (n: Notification): void => {
      if (seen.has(n.id)) return;
      seen.add(n.id);
      deliver(n);
    };
    const buffered: Notification[] = [];
    let replaying = true;
    const unsubscribe = hub.subscribe((n) => (replaying ? buffered.push(n) : once(n)));
    try {
      for await (const [, n] of this.#store.collection("dmOutbox").entries(scopeRange(scope))) once(n);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    replaying = false;
    for (const n of buffered) once(n);
    this.#log.info("adapter subscribed", { channel: scope.channel, account: scope.accountId, adapters: hub.size });
    return () => {
      unsubscribe();
      this.#log.info("adapter unsubscribed", { channel: scope.channel, account: scope.accountId, adapters: hub.size });
    };
  }

  /** Removes a delivered notification from the outbox. Unknown ids succeed (idempotent). */
  async ackNotification(id: string): Promise<void> {
    if (!/^n1\.[a-z]+\.[a-z0-9_-]{1,64}\.\d{16}\.[0-9a-f]{8}$/.test(id)) {
      throw new InvalidArgumentError("malformed notification id", "notification_id");
    }
    await this.#store.write([del("dmOutbox", outboxKey(id))], { sync: false });
  }

  /**
   * Removes requests whose TTL has passed (at most `limit` per call), emitting "expired" for each.
   * Returns how many were removed. The daemon calls this periodically.
   */
  async sweepExpired(limit = 1000): Promise<number> {
    const now = this.#clock.now();
    const due: Array<{ channel: string; accountId: string }> = [];
    for await (const [, entry] of this.#store.collection("dmExpiry").entries({ lt: expiryBound(now + 1), limit })) {
      due.push({ channel: entry.channel, accountId: entry.accountId });
    }
    let removed = 0;
    const done = new Set<string>();
    for (const { channel, accountId } of due) {
      const scope = this.#scope(channel, accountId);
      if (done.has(scope.key)) continue;
      done.add(scope.key);
      removed += (await this.#mutex.run(scope.key, () => this.#expireScope(scope, this.#clock.now()))).expired;
    }
    return removed;
  }

  #scope(channel: string, accountId: string): Scope {
    const spec = resolveChannel(channel);
    const account = normalizeAccountId(accountId);
    return { spec, channel: spec.id, accountId: account, key: scopeKey(spec.id, account) };
  }

  #allowedBy(scope: Scope, policy: AccountPolicy, senderId: string): string | undefined {
    if (policy.allowSet.has(senderId)) return "sender is in config allowFrom";
    if (this.#store.collection("dmAllow").getSync(scope.key + senderId) !== undefined) return "sender is approved";
    return undefined;
  }

  #isLive(record: DmRequestRecord, now: number): boolean {
    return now < record.expiresAtMs;
  }

  async #uniqueCode(scope: Scope): Promise<string> {
    const codes = this.#store.collection("dmCodes");
    for (let i = 0; i < PAIRING_CODE_MAX_ATTEMPTS; i++) {
      const code = generatePairingCode(this.#rand);
      if ((await codes.get(scope.key + code)) === undefined) return code;
    }
    throw new InternalError("failed to generate a unique pairing code");
  }

  async #findLiveByCode(scope: Scope, code: string): Promise<{ senderId: string; record: DmRequestRecord }> {
    const notFound = new NotFoundError(`No pending pairing request found for code: ${code}`, {
      logDetail: `no pending pairing request for code ${maskCode(code)}`,
    });
    const index = await this.#store.collection("dmCodes").get(scope.key + code);
    if (index === undefined) throw notFound;
    const record = await this.#store.collection("dmRequests").get(scope.key + index.senderId);
    if (record === undefined || record.code !== code) throw notFound;
    if (!this.#isLive(record, this.#clock.now())) {
      await this.#expireOne(scope, index.senderId, record);
      throw notFound;
    }
    return { senderId: index.senderId, record };
  }

  #removeRequestOps(scope: Scope, senderId: string, record: DmRequestRecord): WriteOp[] {
    return [
      del("dmRequests", scope.key + senderId),
      del("dmCodes", scope.key + record.code),
      del("dmExpiry", expiryKey(record.expiresAtMs, scope, senderId)),
    ];
  }

  async #statsOp(scope: Scope, delta: number): Promise<WriteOp> {
    const stats = await this.#store.collection("dmScopeStats").get(scope.key);
    return put("dmScopeStats", scope.key, { approvedCount: Math.max(0, (stats?.approvedCount ?? 0) + delta) });
  }

  /**
   * Expires every dead request of `scope` and counts the live ones (one scan); the caller holds the
   * scope lock.
   */
  async #expireScope(scope: Scope, now: number): Promise<{ expired: number; live: number }> {
    const dead: Array<[string, DmRequestRecord]> = [];
    let live = 0;
    let nextExpiry = Infinity;
    for await (const [key, record] of this.#store.collection("dmRequests").entries(scopeRange(scope))) {
      if (this.#isLive(record, now)) {
        live++;
        nextExpiry = Math.min(nextExpiry, record.expiresAtMs);
      } else dead.push([key.slice(scope.key.length), record]);
    }
    for (const [senderId, record] of dead) await this.#expireOne(scope, senderId, record);
    this.#occupancy.set(scope.key, { stored: live, nextExpiryMs: nextExpiry });
    return { expired: dead.length, live };
  }

  /**
   * Keeps the scope's occupancy summary in step after a successful write that added (+1, with its
   * expiry) or removed (-1) one request record. A removal leaves the expiry bound as it is: a bound
   * that is too early only costs one extra scan. Unknown scopes stay unknown until their first scan.
   */
  #noteStored(scope: Scope, delta: 1 | -1, expiresAtMs = Infinity): void {
    const known = this.#occupancy.get(scope.key);
    if (known === undefined) return;
    known.stored = Math.max(0, known.stored + delta);
    known.nextExpiryMs = Math.min(known.nextExpiryMs, expiresAtMs);
  }

  async #expireOne(scope: Scope, senderId: string, record: DmRequestRecord): Promise<void> {
    await this.#store.write(this.#removeRequestOps(scope, senderId, record), { sync: false });
    this.#noteStored(scope, -1);
    this.#log.info("pairing request expired", { channel: scope.channel, account: scope.accountId, code: maskCode(record.code) });
    this.events.emit({
      type: "expired",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId,
      code: record.code,
      atMs: this.#clock.now(),
      meta: record.meta,
    });
  }

  #replyText(scope: Scope, senderId: string, code: string): string {
    const account = scope.accountId === "default" ? "" : ` --account ${scope.accountId}`;
    return [
      `${this.#product}: access not configured.`,
      "",
      `${scope.spec.label} ID: ${senderId}`,
      "",
      `Pairing code: ${code}`,
      "",
      "Ask the bot owner to approve with:",
      `${this.#product} pairing approve ${scope.channel} ${code}${account}`,
    ].join("\n");
  }
}

type AllowCursor = { c: number } | { s: string };

function isAllowCursor(v: unknown): v is AllowCursor {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (typeof o.c === "number" && Number.isInteger(o.c) && o.c >= 0) || typeof o.s === "string";
}

function isOffsetCursor(v: unknown): v is { offset: number } {
  return typeof v === "object" && v !== null && Number.isInteger((v as { offset?: unknown }).offset) && (v as { offset: number }).offset >= 0;
}

function scopeRange(scope: Scope): { gte: string; lt: string } {
  return { gte: scope.key, lt: prefixEnd(scope.key) };
}

function expiryBound(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(16, "0");
}

function expiryKey(expiresAtMs: number, scope: Scope, senderId: string): string {
  return expiryBound(expiresAtMs) + KEY_SEP + scope.key + senderId;
}

function notificationId(scope: Scope, now: number): string {
  return `n1.${scope.channel}.${scope.accountId}.${expiryBound(now)}.${randomBytes(4).toString("hex")}`;
}


/** Outbox key from a notification id `n1.<channel>.<account>.<ms16>.<rand>`: `scopeKey + ms16.rand`. */
function outboxKey(id: string): string {
  const [, channel = "", accountId = "", ms = "", rand = ""] = id.split(".");
  return scopeKey(channel, accountId) + ms + "." + rand;
}

function toPending(scope: Scope, senderId: string, r: DmRequestRecord): PendingRequest {
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

function approvedView(scope: Scope, senderId: string, r: DmAllowRecord): AllowedSender {
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

function configView(scope: Scope, senderId: string): AllowedSender {
  return { channel: scope.channel, accountId: scope.accountId, senderId, source: "config", approvedAtMs: 0, meta: {}, via: "config" };
}

/**
 * Cleans adapter-supplied display data: trims values, drops empty ones, and refuses more than
 * MAX_META_ENTRIES entries, over-long keys or values, or control/format characters.
 * Throws InvalidArgumentError naming the offending key.
 */
export function sanitizeMeta(meta: Record<string, string>): Record<string, string> {
  const entries = Object.entries(meta);
  if (entries.length > MAX_META_ENTRIES) {
    throw new InvalidArgumentError(`sender_meta has more than ${MAX_META_ENTRIES} entries`, "sender_meta");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const key = k.trim();
    const value = v.trim();
    if (key === "" || key.length > MAX_META_KEY_LENGTH || /[\p{Cc}\p{Cf}]/u.test(key)) {
      throw new InvalidArgumentError(`sender_meta key "${k}" is empty, too long or has control characters`, "sender_meta");
    }
    if (value.length > MAX_META_VALUE_LENGTH || /[\p{Cc}\p{Cf}]/u.test(value)) {
      throw new InvalidArgumentError(`sender_meta.${key} is too long or has control characters`, `sender_meta.${key}`);
    }
    if (value !== "") out[key] = value;
  }
  return out;
}
