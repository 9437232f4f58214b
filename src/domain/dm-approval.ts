import {
  approvedView,
  DM_NOTIFY_TOPIC,
  type DmContext,
  isLive,
  type Scope,
  scopeRange,
  toPending,
} from "./dm-context";
import type { DmAllowRecord, DmRequestRecord } from "./dm-records";
import type { ApprovalResult, CallerRole, Notification, NotifyStatus, PendingRequest } from "./dm-types";
import { InvalidArgumentError, NotFoundError } from "./errors";
import { maskCode } from "./logger";
import { outboxKey, newNotificationId } from "./dm-outbox";
import { normalizePairingCode } from "./pairing-code";
import { decodePageToken, effectivePageSize, encodePageToken, isOffsetCursor, type Page, type PageRequest } from "./paging";
import { applyOps, type StoreTx } from "./shared-store";
import { ms16, put, type WriteOp } from "./store";

/**
 * Lists the live pending requests of one channel account, oldest first.
 * Throws InvalidArgumentError for an unknown channel or a bad page token.
 */
export async function listRequests(ctx: DmContext, channel: string, accountId: string, page: PageRequest): Promise<Page<PendingRequest>> {
  const scope = ctx.scope(channel, accountId);
  const size = effectivePageSize(page.pageSize);
  const skip = page.pageToken === "" ? 0 : decodePageToken(page.pageToken, isOffsetCursor).offset;
  const now = ctx.clock.now();
  const all: PendingRequest[] = [];
  for await (const [key, record] of ctx.store.entries("dmRequests", scopeRange(scope))) {
    if (isLive(record, now)) all.push(toPending(scope, key.slice(scope.key.length), record));
  }
  all.sort((a, b) => a.createdAtMs - b.createdAtMs || a.senderId.localeCompare(b.senderId));
  const items = all.slice(skip, skip + size);
  const next = skip + size < all.length ? encodePageToken({ offset: skip + size }) : "";
  return { items, nextPageToken: next };
}

/**
 * Approves a code: removes the request and adds its sender to the approved store in one synced
 * write; with `notify`, the approval notice goes into the outbox in the same write. A correct code
 * is never delayed; a wrong or malformed one counts as a miss for (`role`, channel account) (see
 * {@link approveMissed}). Throws NotFoundError when no live request has the code,
 * InvalidArgumentError for bad input ("malformed code" for a code that cannot be one).
 */
export async function approve(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawCode: string,
  notify: boolean,
  role: CallerRole = "owner",
): Promise<ApprovalResult> {
  const scope = ctx.scope(channel, accountId);
  const code = await codeOrMiss(ctx, role, scope, rawCode);
  const result = await ctx.store.transact(scope.key, async (tx) => {
    const found = await findLiveByCode(ctx, tx, scope, code);
    if (found === undefined) return undefined;
    const { senderId, record } = found;
    const now = ctx.clock.now();
    const allow: DmAllowRecord = { approvedAtMs: now, via: "pairing-code", meta: record.meta };
    const alreadyApproved = (await tx.get("dmAllow", scope.key + senderId)) !== undefined;
    const ops: WriteOp[] = [
      ...ctx.removeRequestOps(scope, senderId, record),
      put("dmAllow", scope.key + senderId, allow),
      ctx.audit.op({ action: "pairing.approve", role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId, via: allow.via }),
    ];
    if (!alreadyApproved) ops.push(await ctx.statsOp(tx, scope, +1));
    let notification: Notification | undefined;
    if (notify) {
      notification = {
        id: newNotificationId(scope, now),
        kind: "pairing-approved",
        channel: scope.channel,
        accountId: scope.accountId,
        senderId,
        text: `✅ ${ctx.product} access approved. Send a message to start chatting.`,
        createdAtMs: now,
      };
      ops.push(put("dmOutbox", outboxKey(notification.id), notification));
      tx.publish(DM_NOTIFY_TOPIC, notification);
    }
    applyOps(tx, ops);
    tx.afterCommit(() => ctx.noteStored(scope, -1));
    ctx.publish(tx, { type: "approved", channel: scope.channel, accountId: scope.accountId, senderId, code, atMs: now, meta: record.meta });
    return { senderId, allow, notification };
  });
  if (result === undefined) {
    await approveMissed(ctx, role, scope, "not-found");
    throw notFoundError(code);
  }
  const { senderId, allow, notification } = result;
  ctx.log.info("pairing approved", { channel: scope.channel, account: scope.accountId, sender: senderId, code: maskCode(code) });
  let notifyStatus: NotifyStatus = "not-requested";
  if (notification !== undefined) {
    // The notice went out on the change feed with the commit: an adapter here or at another daemon
    // sharing the store (its presence record) delivers it.
    const feed = ctx.feeds.get(scope.key);
    const here = feed !== undefined && feed.size > 0;
    notifyStatus = here || (ctx.presence !== undefined && (await ctx.presence.adapterElsewhere(scope.key))) ? "queued" : "no-adapter";
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
export async function reject(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawCode: string,
  role: CallerRole = "owner",
): Promise<PendingRequest> {
  const scope = ctx.scope(channel, accountId);
  const code = await codeOrMiss(ctx, role, scope, rawCode);
  const hit = await ctx.store.transact(scope.key, async (tx) => {
    const found = await findLiveByCode(ctx, tx, scope, code);
    if (found === undefined) return undefined;
    const audit = ctx.audit.op({ action: "pairing.reject", role, channel: scope.channel, accountId: scope.accountId, subjectId: found.senderId });
    applyOps(tx, [...ctx.removeRequestOps(scope, found.senderId, found.record), audit]);
    tx.afterCommit(() => ctx.noteStored(scope, -1));
    ctx.publish(tx, {
      type: "rejected",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId: found.senderId,
      code,
      atMs: ctx.clock.now(),
      meta: found.record.meta,
    });
    return found;
  });
  if (hit === undefined) {
    await approveMissed(ctx, role, scope, "not-found");
    throw notFoundError(code);
  }
  const { senderId, record } = hit;
  ctx.log.info("pairing rejected", { channel: scope.channel, account: scope.accountId, sender: senderId, code: maskCode(code) });
  return toPending(scope, senderId, record);
}

/**
 * Removes requests whose TTL has passed (at most `limit` per call), emitting "expired" for each.
 * Returns how many were removed. The daemon calls this periodically.
 */
export async function sweepExpired(ctx: DmContext, limit = 1000): Promise<number> {
  const now = ctx.clock.now();
  const due: Array<{ channel: string; accountId: string }> = [];
  for await (const [, entry] of ctx.store.entries("dmExpiry", { lt: ms16(now + 1), limit })) {
    due.push({ channel: entry.channel, accountId: entry.accountId });
  }
  let removed = 0;
  const done = new Set<string>();
  for (const { channel, accountId } of due) {
    const scope = ctx.scope(channel, accountId);
    if (done.has(scope.key)) continue;
    done.add(scope.key);
    // Each dead request is deleted (and reported) by the one transaction that still finds it, so with
    // several daemons sweeping each "expired" is published once.
    const scan = await ctx.store.transact(
      scope.key,
      async (tx) => {
        const result = await ctx.expireScope(tx, scope, ctx.clock.now());
        tx.afterCommit(() => ctx.noteScanned(scope, result));
        return result;
      },
      { durable: false },
    );
    removed += scan.expired.length;
  }
  return removed;
}

/** The hint every NOT_FOUND for a code carries after the reference's text. */
export const CODE_NOT_FOUND_HINT = "(expired, already approved, or mistyped; see pairgate pairing list)";

/** The one NOT_FOUND of unknown, expired and consumed codes alike (same text, same work before it). */
function notFoundError(code: string): NotFoundError {
  return new NotFoundError(`No pending pairing request found for code: ${code} ${CODE_NOT_FOUND_HINT}`, {
    logDetail: `no pending pairing request for code ${maskCode(code)}`,
  });
}

/** Normalizes `rawCode`; a malformed code counts as a miss (and may wait) before InvalidArgumentError is thrown. */
async function codeOrMiss(ctx: DmContext, role: CallerRole, scope: Scope, rawCode: string): Promise<string> {
  try {
    return normalizePairingCode(rawCode);
  } catch (err) {
    if (err instanceof InvalidArgumentError) await approveMissed(ctx, role, scope, "malformed");
    throw err;
  }
}

/**
 * THE approve-miss path (approve and reject with a wrong or malformed code): counts the miss per
 * (socket role, channel account); past the free misses (5 in 15 minutes) it emits `approve-failed` to
 * watchers, logs one warning per key per minute, and waits the schedule's delay (1 s doubling to
 * 30 s) before the caller answers. Nothing is locked while it waits, and a correct code never comes
 * here, so the owner is never locked out. Every miss leaves one `pairing.approve_failed` audit record
 * (channel account, socket role and kind; never the code).
 */
export async function approveMissed(ctx: DmContext, role: CallerRole, scope: Scope, kind: "not-found" | "malformed"): Promise<void> {
  await ctx.audit.append({ action: "pairing.approve_failed", role, channel: scope.channel, accountId: scope.accountId, detail: kind }, ctx.log);
  const verdict = ctx.misses.record(role, scope.key);
  if (verdict.delayMs <= 0) return;
  if (verdict.log) {
    ctx.log.warn("repeated wrong pairing codes: answers are slowed down (logged at most once a minute per account and socket)", {
      channel: scope.channel,
      account: scope.accountId,
      socket: role,
      kind,
      missesInWindow: verdict.recent,
      delayMs: verdict.delayMs,
    });
  }
  ctx.events.emit({
    type: "approve-failed",
    channel: scope.channel,
    accountId: scope.accountId,
    senderId: "",
    code: "",
    atMs: ctx.clock.now(),
    meta: {},
    failedAttempts: verdict.recent,
    callerRole: role,
  });
  await ctx.sleep(verdict.delayMs);
}

/**
 * The live request holding `code` in `scope`, or undefined, read in `tx` (a scope-lock transaction).
 * Unknown, expired and consumed codes do the same two reads and no write (an expired request found
 * here is removed after the answer, in its own transaction), so their answers take the same time.
 */
async function findLiveByCode(ctx: DmContext, tx: StoreTx, scope: Scope, code: string): Promise<{ senderId: string; record: DmRequestRecord } | undefined> {
  const index = await tx.get("dmCodes", scope.key + code);
  const senderId = index?.senderId ?? "\u0000";
  const record = await tx.get("dmRequests", scope.key + senderId);
  if (index === undefined || record === undefined || record.code !== code) return undefined;
  if (!isLive(record, ctx.clock.now())) {
    setImmediate(() => {
      ctx.store
        .transact(
          scope.key,
          async (later) => {
            const still = await later.get("dmRequests", scope.key + senderId);
            if (still === undefined || still.code !== code || isLive(still, ctx.clock.now())) return undefined;
            ctx.expireOne(later, scope, senderId, still);
            later.afterCommit(() => ctx.noteStored(scope, -1));
            return still;
          },
          { durable: false },
        )
        .then((expired) => {
          if (expired === undefined) return;
          ctx.logExpired(scope, senderId, expired);
        })
        .catch((err: unknown) => ctx.log.error("expiring a request after a miss failed", { cause: String(err) }));
    });
    return undefined;
  }
  return { senderId, record };
}
