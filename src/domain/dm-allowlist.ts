import type { AuditRole } from "./audit-log";
import { asciiTrim, normalizeSenderId } from "./channels";
import { approvedView, configView, type DmContext, isLive, scopeRange } from "./dm-context";
import type { DmAllowRecord } from "./dm-records";
import type { AllowedSender, ChannelStatus } from "./dm-types";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "./errors";
import { decodePageToken, effectivePageSize, encodePageToken, type Page, type PageRequest } from "./paging";
import { applyOps } from "./shared-store";
import { del, KEY_SEP, prefixEnd, put, scopeKey } from "./store";

type AllowCursor = { c: number } | { s: string };

/**
 * Lists the allowlist of one channel account: config entries first, then approved senders in id
 * order. Throws InvalidArgumentError for an unknown channel or a bad page token.
 */
export async function listAllowed(ctx: DmContext, channel: string, accountId: string, page: PageRequest): Promise<Page<AllowedSender>> {
  const scope = ctx.scope(channel, accountId);
  const policy = ctx.policies.resolve(scope.channel, scope.accountId);
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
  for await (const [key, record] of ctx.store.entries("dmAllow", { ...range, limit: want + 1 })) {
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
export async function addAllowed(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawSender: string,
  role: AuditRole = "owner",
): Promise<{ sender: AllowedSender; created: boolean }> {
  const scope = ctx.scope(channel, accountId);
  if (asciiTrim(rawSender) === "*") {
    throw new InvalidArgumentError('"*" cannot be stored; a wildcard can only come from config (dmPolicy "open")', "sender_id");
  }
  const senderId = normalizeSenderId(scope.spec, rawSender);
  const result = await ctx.store.transact(scope.key, async (tx) => {
    const existing = await tx.get("dmAllow", scope.key + senderId);
    if (existing !== undefined) return { sender: approvedView(scope, senderId, existing), created: false };
    const allow: DmAllowRecord = { approvedAtMs: ctx.clock.now(), via: "added", meta: {} };
    const audit = ctx.audit.op({ action: "pairing.add", role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId, via: "added" });
    applyOps(tx, [put("dmAllow", scope.key + senderId, allow), await ctx.statsOp(tx, scope, +1), audit]);
    return { sender: approvedView(scope, senderId, allow), created: true };
  });
  if (result.created) ctx.log.info("sender added to allowlist", { channel: scope.channel, account: scope.accountId, sender: senderId });
  return result;
}

/**
 * Removes an approved sender (synced) and emits "revoked".
 * Throws FailedPreconditionError when the sender is allowed only by config, NotFoundError when it is
 * not on the list at all.
 */
export async function revokeAllowed(
  ctx: DmContext,
  channel: string,
  accountId: string,
  rawSender: string,
  role: AuditRole = "owner",
): Promise<AllowedSender> {
  const scope = ctx.scope(channel, accountId);
  const senderId = normalizeSenderId(scope.spec, rawSender);
  const policy = ctx.policies.resolve(scope.channel, scope.accountId);
  const removed = await ctx.store.transact(scope.key, async (tx) => {
    const existing = await tx.get("dmAllow", scope.key + senderId);
    if (existing === undefined) {
      if (policy.allowSet.has(senderId)) {
        throw new FailedPreconditionError(
          `${scope.channel} sender ${senderId} is allowed by the config file (${policy.configPath}.allowFrom); ` +
            "remove it there and restart the daemon",
        );
      }
      throw new NotFoundError(`${scope.channel} sender ${senderId} is not on the approved list`);
    }
    const audit = ctx.audit.op({ action: "pairing.revoke", role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId });
    applyOps(tx, [del("dmAllow", scope.key + senderId), await ctx.statsOp(tx, scope, -1), audit]);
    ctx.publish(tx, {
      type: "revoked",
      channel: scope.channel,
      accountId: scope.accountId,
      senderId,
      code: "",
      atMs: ctx.clock.now(),
      meta: existing.meta,
    });
    return existing;
  });
  ctx.log.info("sender revoked", { channel: scope.channel, account: scope.accountId, sender: senderId });
  return approvedView(scope, senderId, removed);
}

/** Reports every channel account: supported channels' default accounts, configured and used accounts. */
export async function listChannels(ctx: DmContext): Promise<ChannelStatus[]> {
  const scopes = new Map<string, { channel: string; accountId: string }>();
  for (const s of ctx.policies.configuredScopes()) scopes.set(scopeKey(s.channel, s.accountId), s);
  for await (const [key] of ctx.store.entries("dmScopeStats", {})) {
    const [channel = "", accountId = ""] = key.split(KEY_SEP);
    scopes.set(key, { channel, accountId });
  }
  const now = ctx.clock.now();
  const pendingByScope = new Map<string, number>();
  for await (const [key, record] of ctx.store.entries("dmRequests", {})) {
    if (!isLive(record, now)) continue;
    const [channel = "", accountId = ""] = key.split(KEY_SEP);
    const sk = scopeKey(channel, accountId);
    scopes.set(sk, { channel, accountId });
    pendingByScope.set(sk, (pendingByScope.get(sk) ?? 0) + 1);
  }
  const outboxByScope = new Map<string, number>();
  for await (const [, n] of ctx.store.entries("dmOutbox", {})) {
    const sk = scopeKey(n.channel, n.accountId);
    scopes.set(sk, { channel: n.channel, accountId: n.accountId });
    outboxByScope.set(sk, (outboxByScope.get(sk) ?? 0) + 1);
  }
  const out: ChannelStatus[] = [];
  for (const [sk, { channel, accountId }] of scopes) {
    const policy = ctx.policies.resolve(channel, accountId);
    const stats = await ctx.store.get("dmScopeStats", sk);
    const misses = ctx.misses.counts(sk);
    out.push({
      channel,
      accountId,
      policy: policy.policy,
      pendingCount: pendingByScope.get(sk) ?? 0,
      allowedCount: policy.allowFrom.length + (stats?.approvedCount ?? 0),
      configAllowCount: policy.allowFrom.length,
      adaptersConnected: ctx.feeds.get(sk)?.size ?? 0,
      pendingLimit: ctx.maxPending,
      queueFullDrops: ctx.queueFullDrops.get(sk) ?? 0,
      undeliveredNotifications: outboxByScope.get(sk) ?? 0,
      approveMissesRecent: misses.recent,
      approveMissesTotal: misses.total,
    });
  }
  const order = new Map(ctx.policies.configuredScopes().map((s, i) => [s.channel, i]));
  out.sort((a, b) => (order.get(a.channel) ?? 99) - (order.get(b.channel) ?? 99) || a.accountId.localeCompare(b.accountId));
  return out;
}

function isAllowCursor(v: unknown): v is AllowCursor {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (typeof o.c === "number" && Number.isInteger(o.c) && o.c >= 0) || typeof o.s === "string";
}
