import { normalizeSenderId } from "./channels";
import { type DmContext, expiryKey, isLive, type Scope } from "./dm-context";
import type { DmRequestRecord } from "./dm-records";
import type { AccountPolicy } from "./dm-policies";
import type { InboundMessage, InboundVerdict } from "./dm-types";
import { InternalError, InvalidArgumentError } from "./errors";
import { maskCode } from "./logger";
import { generatePairingCode, PAIRING_CODE_MAX_ATTEMPTS } from "./pairing-code";
import { pairingReplyText } from "./reply-text";
import type { StoreTx } from "./shared-store";
import { ms16 } from "./store";

/** The lock every request creation takes (after its scope's) so the global pending bound holds exactly. */
const GLOBAL_PENDING_LOCK = "\u0000pending-total";

/** The "queue full" warning is logged at most this often per channel account. */
export const QUEUE_FULL_LOG_INTERVAL_MS = 60_000;
/** Limits on sender_meta. */
export const MAX_META_ENTRIES = 16;
export const MAX_META_KEY_LENGTH = 64;
export const MAX_META_VALUE_LENGTH = 256;

/**
 * Decides on one inbound direct message (CheckInbound). Creates or reuses a pending request for unknown
 * senders under dmPolicy "pairing". Throws InvalidArgumentError for an unknown channel or malformed input.
 */
export async function checkInbound(ctx: DmContext, message: InboundMessage): Promise<InboundVerdict> {
  const scope = ctx.scope(message.channel, message.accountId);
  const senderId = normalizeSenderId(scope.spec, message.senderId);
  const meta = sanitizeMeta(message.senderMeta);
  const policy = ctx.policies.resolve(scope.channel, scope.accountId);
  const base = { senderId, accountId: scope.accountId, pairingCode: "", replyText: "", codeExpiresAtMs: 0 };

  if (policy.policy === "disabled") {
    return { ...base, decision: "deny", reason: "direct messages are disabled (dmPolicy=disabled)" };
  }
  if (policy.policy === "open") return { ...base, decision: "allow", reason: "dmPolicy=open" };
  const allowedBy = await ctx.allowedBy(scope, policy, senderId);
  if (allowedBy !== undefined) return { ...base, decision: "allow", reason: allowedBy };
  if (policy.policy === "allowlist") {
    ctx.log.info("blocked sender not on allowlist", { channel: scope.channel, account: scope.accountId, sender: senderId });
    return { ...base, decision: "deny", reason: "sender is not on the allowlist (dmPolicy=allowlist)" };
  }
  if (message.sentAtMs > 0 && message.sentAtMs < ctx.startedAtMs - ctx.graceMs) {
    return {
      ...base,
      decision: "pairing-required",
      reason: "message predates daemon start by more than 30 s (history sync): no reply, no pairing request",
    };
  }
  // Requests are reconstructible (the sender's next message makes one again): not synced.
  return ctx.store.transact(scope.key, (tx) => pairingPath(ctx, tx, scope, policy, senderId, meta), { durable: false });
}

/**
 * The unknown-sender path in a transaction of the scope lock: reuse the live code, refuse when full,
 * or mint one. What must happen only after the commit (logs, in-memory summaries) goes to
 * `tx.afterCommit`, which the embedded store runs before the scope lock is released.
 */
async function pairingPath(
  ctx: DmContext,
  tx: StoreTx,
  scope: Scope,
  policy: AccountPolicy,
  senderId: string,
  meta: Record<string, string>,
): Promise<InboundVerdict> {
  const base = { senderId, accountId: scope.accountId };
  // Re-check under the lock: an approval may have completed while we waited.
  const allowedBy = await ctx.allowedBy(scope, policy, senderId, tx);
  if (allowedBy !== undefined) {
    return { ...base, decision: "allow", reason: allowedBy, pairingCode: "", replyText: "", codeExpiresAtMs: 0 };
  }
  const now = ctx.clock.now();
  const requestKey = scope.key + senderId;
  const existing = await tx.get("dmRequests", requestKey);
  if (existing !== undefined && isLive(existing, now)) {
    const updated: DmRequestRecord = {
      ...existing,
      lastSeenAtMs: now,
      meta: Object.keys(meta).length > 0 ? meta : existing.meta,
    };
    tx.put("dmRequests", requestKey, updated);
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
  const known = ctx.occupancy.get(scope.key);
  let pending: number;
  if (known !== undefined && known.stored >= ctx.maxPending && now < known.nextExpiryMs) pending = known.stored;
  else {
    const scan = await ctx.expireScope(tx, scope, now);
    tx.afterCommit(() => ctx.noteScanned(scope, scan));
    pending = scan.live;
  }
  if (pending >= ctx.maxPending) {
    return queueFull(ctx, tx, scope, base, `pairing queue full (${pending} pending for ${scope.channel}/${scope.accountId}); no code issued`, pending, ctx.maxPending);
  }
  // The global bound (dm.maxPendingTotal): count the live requests of every account from the expiry
  // index (at most maxPendingTotal keys), under one more lock (always taken after the scope's) so two
  // accounts cannot both take the last slot.
  let total = 0;
  if (now < ctx.globalFullUntilMs) total = ctx.maxPendingTotal; // proven full by an earlier count (embedded store)
  else {
    await tx.lock(GLOBAL_PENDING_LOCK);
    const removals = ctx.removals;
    let earliest = Infinity;
    for await (const [key] of tx.entries("dmExpiry", { gte: ms16(now + 1), limit: ctx.maxPendingTotal })) {
      if (total++ === 0) earliest = Number(key.slice(0, 16));
    }
    if (total >= ctx.maxPendingTotal && ctx.store.exclusive) {
      // Every counted request stays live until the earliest expiry, unless one is removed first.
      tx.afterCommit(() => {
        if (ctx.removals === removals) ctx.globalFullUntilMs = earliest;
      });
    }
  }
  if (total >= ctx.maxPendingTotal) {
    return queueFull(
      ctx,
      tx,
      scope,
      base,
      `pairing queue full (${total} pending in all channel accounts, dm.maxPendingTotal); no code issued`,
      total,
      ctx.maxPendingTotal,
    );
  }
  return createRequest(ctx, tx, scope, senderId, meta, now);
}

/** Answers an unknown sender turned away by a full queue; counts and logs (rate-limited) after the commit. */
function queueFull(
  ctx: DmContext,
  tx: StoreTx,
  scope: Scope,
  base: { senderId: string; accountId: string },
  reason: string,
  pending: number,
  limit: number,
): InboundVerdict {
  tx.afterCommit(() => countQueueFull(ctx, scope, reason, pending, limit));
  return { ...base, decision: "pairing-required", pairingCode: "", replyText: "", codeExpiresAtMs: 0, reason };
}

function countQueueFull(ctx: DmContext, scope: Scope, reason: string, pending: number, limit: number): void {
  const drops = (ctx.queueFullDrops.get(scope.key) ?? 0) + 1;
  ctx.queueFullDrops.set(scope.key, drops);
  const mono = ctx.clock.monotonic(); // an in-memory rate limit: immune to wall-clock steps
  if (mono - (ctx.queueFullLoggedAt.get(scope.key) ?? -Infinity) >= QUEUE_FULL_LOG_INTERVAL_MS) {
    ctx.queueFullLoggedAt.set(scope.key, mono);
    ctx.log.warn("pairing queue full: unknown senders turned away (logged at most once a minute per account)", {
      channel: scope.channel,
      account: scope.accountId,
      pending,
      limit,
      reason,
      turnedAwaySinceStart: drops,
    });
  }
}

/** Mints a code and stores the new request in `tx`, which holds the scope lock and the global one. */
async function createRequest(
  ctx: DmContext,
  tx: StoreTx,
  scope: Scope,
  senderId: string,
  meta: Record<string, string>,
  now: number,
): Promise<InboundVerdict> {
  const base = { senderId, accountId: scope.accountId };
  const requestKey = scope.key + senderId;
  const code = await uniqueCode(ctx, tx, scope);
  const record: DmRequestRecord = {
    code,
    createdAtMs: now,
    lastSeenAtMs: now,
    expiresAtMs: now + ctx.ttlMs,
    meta,
  };
  tx.put("dmRequests", requestKey, record);
  tx.put("dmCodes", scope.key + code, { senderId });
  tx.put("dmExpiry", expiryKey(record.expiresAtMs, scope, senderId), { channel: scope.channel, accountId: scope.accountId, senderId });
  ctx.publish(tx, { type: "requested", channel: scope.channel, accountId: scope.accountId, senderId, code, atMs: now, meta });
  tx.afterCommit(() => {
    ctx.noteStored(scope, +1, record.expiresAtMs);
    ctx.log.info("pairing request created", {
      channel: scope.channel,
      account: scope.accountId,
      sender: senderId,
      code: maskCode(code),
    });
  });
  return {
    ...base,
    decision: "pairing-required",
    pairingCode: code,
    replyText: pairingReplyText(ctx.unpairedResponse, ctx.replyTemplate, {
      product: ctx.product,
      channel: scope.channel,
      channelLabel: scope.spec.label,
      accountId: scope.accountId,
      senderId,
      code,
    }),
    codeExpiresAtMs: record.expiresAtMs,
    reason:
      ctx.unpairedResponse === "silent"
        ? "new pairing request: no reply (dm.unpairedResponse is \"silent\"); the owner sees it in pairing list"
        : "new pairing request: send the reply to the sender",
  };
}

async function uniqueCode(ctx: DmContext, tx: StoreTx, scope: Scope): Promise<string> {
  for (let i = 0; i < PAIRING_CODE_MAX_ATTEMPTS; i++) {
    const code = generatePairingCode(ctx.rand);
    if ((await tx.get("dmCodes", scope.key + code)) === undefined) return code;
  }
  throw new InternalError("failed to generate a unique pairing code");
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
