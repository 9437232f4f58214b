import {
  approvedView,
  type DmContext,
  isLive,
  type Scope,
  scopeRange,
  toPending,
} from "./dm-context";
import type { DmAllowRecord, DmRequestRecord } from "./dm-records";
import type { AuditRole } from "./audit-log";
import type { ApprovalResult, Notification, NotifyStatus, PendingRequest } from "./dm-types";
import { NotFoundError } from "./errors";
import { maskCode } from "./logger";
import { outboxKey, newNotificationId } from "./dm-outbox";
import { normalizePairingCode } from "./pairing-code";
import { decodePageToken, effectivePageSize, encodePageToken, isOffsetCursor, type Page, type PageRequest } from "./paging";
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
  for await (const [key, record] of ctx.store.collection("dmRequests").entries(scopeRange(scope))) {
    if (isLive(record, now)) all.push(toPending(scope, key.slice(scope.key.length), record));
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
export async function approve(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawCode: string,
  notify: boolean,
  role: AuditRole = "owner",
): Promise<ApprovalResult> {
  const scope = ctx.scope(channel, accountId);
  const code = normalizePairingCode(rawCode);
  const result = await ctx.mutex.run(scope.key, async () => {
    const { senderId, record } = await findLiveByCode(ctx, scope, code);
    const now = ctx.clock.now();
    const allow: DmAllowRecord = { approvedAtMs: now, via: "pairing-code", meta: record.meta };
    const alreadyApproved = (await ctx.store.collection("dmAllow").get(scope.key + senderId)) !== undefined;
    const ops: WriteOp[] = [
      ...ctx.removeRequestOps(scope, senderId, record),
      put("dmAllow", scope.key + senderId, allow),
      ctx.audit.op({ action: "pairing.approve", role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId, via: allow.via }),
    ];
    if (!alreadyApproved) ops.push(await ctx.statsOp(scope, +1));
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
    }
    await ctx.store.write(ops, { sync: true });
    ctx.noteStored(scope, -1);
    return { senderId, record, allow, notification, now };
  }).catch((err: unknown) => auditApproveMiss(ctx, scope, role, err));
  const { senderId, record, allow, notification, now } = result;
  ctx.log.info("pairing approved", { channel: scope.channel, account: scope.accountId, sender: senderId, code: maskCode(code) });
  ctx.events.emit({ type: "approved", channel: scope.channel, accountId: scope.accountId, senderId, code, atMs: now, meta: record.meta });
  let notifyStatus: NotifyStatus = "not-requested";
  if (notification !== undefined) {
    const feed = ctx.feeds.get(scope.key);
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
export async function reject(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawCode: string,
  role: AuditRole = "owner",
): Promise<PendingRequest> {
  const scope = ctx.scope(channel, accountId);
  const code = normalizePairingCode(rawCode);
  const { senderId, record } = await ctx.mutex.run(scope.key, async () => {
    const found = await findLiveByCode(ctx, scope, code);
    const audit = ctx.audit.op({ action: "pairing.reject", role, channel: scope.channel, accountId: scope.accountId, subjectId: found.senderId });
    await ctx.store.write([...ctx.removeRequestOps(scope, found.senderId, found.record), audit], { sync: true });
    ctx.noteStored(scope, -1);
    return found;
  });
  ctx.log.info("pairing rejected", { channel: scope.channel, account: scope.accountId, sender: senderId, code: maskCode(code) });
  ctx.events.emit({
    type: "rejected",
    channel: scope.channel,
    accountId: scope.accountId,
    senderId,
    code,
    atMs: ctx.clock.now(),
    meta: record.meta,
  });
  return toPending(scope, senderId, record);
}

/**
 * Removes requests whose TTL has passed (at most `limit` per call), emitting "expired" for each.
 * Returns how many were removed. The daemon calls this periodically.
 */
export async function sweepExpired(ctx: DmContext, limit = 1000): Promise<number> {
  const now = ctx.clock.now();
  const due: Array<{ channel: string; accountId: string }> = [];
  for await (const [, entry] of ctx.store.collection("dmExpiry").entries({ lt: ms16(now + 1), limit })) {
    due.push({ channel: entry.channel, accountId: entry.accountId });
  }
  let removed = 0;
  const done = new Set<string>();
  for (const { channel, accountId } of due) {
    const scope = ctx.scope(channel, accountId);
    if (done.has(scope.key)) continue;
    done.add(scope.key);
    removed += (await ctx.mutex.run(scope.key, () => ctx.expireScope(scope, ctx.clock.now()))).expired;
  }
  return removed;
}

/**
 * A missed approve (no live request holds the code) leaves one `pairing.approve_failed` record, with
 * the channel account but never the code; then the error goes on to the caller unchanged.
 */
async function auditApproveMiss(ctx: DmContext, scope: Scope, role: AuditRole, err: unknown): Promise<never> {
  if (err instanceof NotFoundError) {
    await ctx.audit.append({ action: "pairing.approve_failed", role, channel: scope.channel, accountId: scope.accountId }, ctx.log);
  }
  throw err;
}

/** The live request holding `code` in `scope`; the caller holds the scope lock. Throws NotFoundError. */
async function findLiveByCode(ctx: DmContext, scope: Scope, code: string): Promise<{ senderId: string; record: DmRequestRecord }> {
  const notFound = new NotFoundError(`No pending pairing request found for code: ${code}`, {
    logDetail: `no pending pairing request for code ${maskCode(code)}`,
  });
  const index = await ctx.store.collection("dmCodes").get(scope.key + code);
  if (index === undefined) throw notFound;
  const record = await ctx.store.collection("dmRequests").get(scope.key + index.senderId);
  if (record === undefined || record.code !== code) throw notFound;
  if (!isLive(record, ctx.clock.now())) {
    await ctx.expireOne(scope, index.senderId, record);
    throw notFound;
  }
  return { senderId: index.senderId, record };
}
