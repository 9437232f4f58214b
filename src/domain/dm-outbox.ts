import { randomBytes } from "node:crypto";
import { type DmContext, type Scope, scopeRange } from "./dm-context";
import type { Notification } from "./dm-types";
import { InvalidArgumentError } from "./errors";
import { EventHub } from "./event-hub";
import { applyOps, recordLockKey } from "./shared-store";
import { del, ms16, scopeKey } from "./store";

/**
 * Opens a notification feed for one channel account (an adapter's SubscribeNotifications stream):
 * `deliver` first receives every unacknowledged notification, then new ones. Each id is delivered
 * once per feed. Returns the function that closes the feed. Throws InvalidArgumentError.
 */
export async function openNotificationFeed(
  ctx: DmContext,
  channel: string,
  accountId: string,
  deliver: (n: Notification) => void,
): Promise<() => void> {
  const scope = ctx.scope(channel, accountId);
  let hub = ctx.feeds.get(scope.key);
  if (hub === undefined) {
    hub = new EventHub<Notification>();
    ctx.feeds.set(scope.key, hub);
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
    for await (const [, n] of ctx.store.entries("dmOutbox", scopeRange(scope))) once(n);
  } catch (err) {
    unsubscribe();
    throw err;
  }
  replaying = false;
  for (const n of buffered) once(n);
  ctx.log.info("adapter subscribed", { channel: scope.channel, account: scope.accountId, adapters: hub.size });
  ctx.presence?.changed();
  return () => {
    unsubscribe();
    ctx.presence?.changed();
    ctx.log.info("adapter unsubscribed", { channel: scope.channel, account: scope.accountId, adapters: hub.size });
  };
}

/** Removes a delivered notification from the outbox. Unknown ids succeed (idempotent). Throws InvalidArgumentError. */
export async function ackNotification(ctx: DmContext, id: string): Promise<void> {
  if (!/^n1\.[a-z]+\.[a-z0-9_-]{1,64}\.\d{16}\.[0-9a-f]{8}$/.test(id)) {
    throw new InvalidArgumentError("malformed notification id", "notification_id");
  }
  const key = outboxKey(id);
  // The outbox record's lock: approvals write it under the scope lock, but a record is never written
  // again after its creation, so acking (deleting) it needs no other lock.
  await ctx.store.transact(recordLockKey("dmOutbox", key), async (tx) => applyOps(tx, [del("dmOutbox", key)]), { durable: false });
}

/** A new notification id `n1.<channel>.<account>.<ms16>.<rand>`. */
export function newNotificationId(scope: Scope, now: number): string {
  return `n1.${scope.channel}.${scope.accountId}.${ms16(now)}.${randomBytes(4).toString("hex")}`;
}

/** Outbox key from a notification id `n1.<channel>.<account>.<ms16>.<rand>`: `scopeKey + ms16.rand`. */
export function outboxKey(id: string): string {
  const [, channel = "", accountId = "", ms = "", rand = ""] = id.split(".");
  return scopeKey(channel, accountId) + ms + "." + rand;
}
