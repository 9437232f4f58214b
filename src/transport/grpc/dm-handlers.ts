import { z } from "zod";
import type {
  AllowedSender as DomainAllowedSender,
  ChannelStatus as DomainChannelStatus,
  DmPairing,
  Notification as DomainNotification,
  PairingEvent,
  PendingRequest,
} from "../../domain/dm-pairing";
import { normalizeAccountId, resolveChannel } from "../../domain/channels";
import { PermissionDeniedError } from "../../domain/errors";
import { lookalikeWarning } from "../../domain/lookalike";
import type { DmPolicyName } from "../../domain/dm-policies";
import {
  Decision,
  type DmAccessServiceServer,
  type Notification,
  NotificationKind,
} from "../../gen/pairgate/v1/dm_access_service";
import {
  type AllowedSender,
  CallerRole,
  type ChannelStatus,
  DmPolicy,
  type DmPairingServiceServer,
  NotifyStatus,
  PairingEventType,
  type PairingRequest,
  SenderSource,
  type WatchPairingEventsResponse,
} from "../../gen/pairgate/v1/dm_pairing_service";
import { type HandlerEnv, serverStream, unary, untilAborted } from "./handler";
import { pagingFields, shortText, validate } from "./validate";

const scopeFields = { channel: shortText(64), accountId: shortText(64) };
const scopeSchema = z.object(scopeFields);

const checkInboundSchema = z.object({
  ...scopeFields,
  senderId: shortText(1024),
  senderMeta: z.record(shortText(64), shortText(256)).refine((m) => Object.keys(m).length <= 16, "at most 16 entries"),
  sentAtMs: z.number().int().min(0, "must not be negative"),
});
const codeSchema = z.object({ ...scopeFields, code: shortText(64) });
const approveSchema = z.object({ ...scopeFields, code: shortText(64), notify: z.boolean() });
const senderSchema = z.object({ ...scopeFields, senderId: shortText(1024) });
const pagedScopeSchema = z.object({ ...scopeFields, ...pagingFields });
const ackSchema = z.object({ notificationId: shortText(128) });
const watchSchema = z.object({ channel: shortText(64), accountId: shortText(64) });

const DECISION = { allow: Decision.DECISION_ALLOW, "pairing-required": Decision.DECISION_PAIRING_REQUIRED, deny: Decision.DECISION_DENY } as const;
const POLICY: Record<DmPolicyName, DmPolicy> = {
  pairing: DmPolicy.DM_POLICY_PAIRING,
  allowlist: DmPolicy.DM_POLICY_ALLOWLIST,
  open: DmPolicy.DM_POLICY_OPEN,
  disabled: DmPolicy.DM_POLICY_DISABLED,
};
const EVENT: Record<PairingEvent["type"], PairingEventType> = {
  requested: PairingEventType.PAIRING_EVENT_TYPE_REQUESTED,
  approved: PairingEventType.PAIRING_EVENT_TYPE_APPROVED,
  rejected: PairingEventType.PAIRING_EVENT_TYPE_REJECTED,
  expired: PairingEventType.PAIRING_EVENT_TYPE_EXPIRED,
  revoked: PairingEventType.PAIRING_EVENT_TYPE_REVOKED,
  "approve-failed": PairingEventType.PAIRING_EVENT_TYPE_APPROVE_FAILED,
};
const ROLE = { owner: CallerRole.CALLER_ROLE_OWNER, adapter: CallerRole.CALLER_ROLE_ADAPTER } as const;
const NOTIFY = {
  "not-requested": NotifyStatus.NOTIFY_STATUS_NOT_REQUESTED,
  queued: NotifyStatus.NOTIFY_STATUS_QUEUED,
  "no-adapter": NotifyStatus.NOTIFY_STATUS_NO_ADAPTER,
} as const;

function pairingRequest(r: PendingRequest): PairingRequest {
  return {
    code: r.code,
    channel: r.channel,
    accountId: r.accountId,
    senderId: r.senderId,
    senderMeta: r.meta,
    createdAtMs: r.createdAtMs,
    lastSeenAtMs: r.lastSeenAtMs,
    expiresAtMs: r.expiresAtMs,
    lookalikeWarning: lookalikeWarning(r.senderId, r.meta),
  };
}

function allowedSender(s: DomainAllowedSender): AllowedSender {
  return {
    channel: s.channel,
    accountId: s.accountId,
    senderId: s.senderId,
    source: s.source === "config" ? SenderSource.SENDER_SOURCE_CONFIG : SenderSource.SENDER_SOURCE_APPROVED,
    approvedAtMs: s.approvedAtMs,
    senderMeta: s.meta,
    via: s.via,
  };
}

/** A channel account status as the contract has it. */
export function channelStatus(c: DomainChannelStatus): ChannelStatus {
  return {
    channel: c.channel,
    accountId: c.accountId,
    policy: POLICY[c.policy],
    pendingCount: c.pendingCount,
    allowedCount: c.allowedCount,
    adaptersConnected: c.adaptersConnected,
    pendingLimit: c.pendingLimit,
    queueFullDrops: c.queueFullDrops,
    undeliveredNotifications: c.undeliveredNotifications,
    configAllowCount: c.configAllowCount,
    approveMissesRecent: c.approveMissesRecent,
    approveMissesTotal: c.approveMissesTotal,
  };
}

function notification(n: DomainNotification): Notification {
  return {
    notificationId: n.id,
    kind: NotificationKind.NOTIFICATION_KIND_PAIRING_APPROVED,
    channel: n.channel,
    accountId: n.accountId,
    senderId: n.senderId,
    text: n.text,
    createdAtMs: n.createdAtMs,
  };
}

/** Options of {@link dmAccessHandlers}. */
export interface DmAccessOptions {
  /** The channels this socket may query (`adapters.channels`, read per call so reloads apply); undefined = all. */
  allowedChannels?: () => ReadonlySet<string> | undefined;
}

/**
 * Refuses a channel outside `allowed` with PermissionDeniedError (an unknown channel name still gets
 * the usual INVALID_ARGUMENT from resolveChannel).
 */
function checkChannelAllowed(allowed: ReadonlySet<string> | undefined, channel: string): void {
  if (allowed === undefined) return;
  const id = resolveChannel(channel).id;
  if (!allowed.has(id)) {
    throw new PermissionDeniedError(`channel ${id} is not served on this socket (adapters.channels: ${[...allowed].join(", ")})`);
  }
}

/** Handlers of pairgate.v1.DmAccessService (called by channel adapters). */
export function dmAccessHandlers(dm: DmPairing, env: HandlerEnv, options: DmAccessOptions = {}): DmAccessServiceServer {
  const allowed = options.allowedChannels ?? (() => undefined);
  return {
    checkInbound: unary("CheckInbound", env, async (req) => {
      const r = validate(checkInboundSchema, req);
      checkChannelAllowed(allowed(), r.channel);
      const v = await dm.checkInbound(r);
      return {
        decision: DECISION[v.decision],
        replyText: v.replyText,
        pairingCode: v.pairingCode,
        reason: v.reason,
        senderId: v.senderId,
        accountId: v.accountId,
        codeExpiresAtMs: v.codeExpiresAtMs,
      };
    }),
    subscribeNotifications: serverStream("SubscribeNotifications", env, async (req, sink, ctx) => {
      const r = validate(scopeSchema, req);
      checkChannelAllowed(allowed(), r.channel);
      const close = await dm.openNotificationFeed(r.channel, r.accountId, (n) => {
        sink.send({ notification: notification(n) });
      });
      try {
        await untilAborted(ctx.signal);
      } finally {
        close();
      }
    }),
    ackNotification: unary("AckNotification", env, async (req) => {
      const id = validate(ackSchema, req).notificationId;
      // A notification id starts "n1.<channel>.": an adapter restricted to some channels may ack only theirs.
      const restricted = allowed();
      if (restricted !== undefined) checkChannelAllowed(restricted, id.split(".")[1] ?? "");
      await dm.ackNotification(id);
      return {};
    }),
  };
}

/** Handlers of pairgate.v1.DmPairingService (the owner's operator API). */
export function dmPairingHandlers(dm: DmPairing, env: HandlerEnv): DmPairingServiceServer {
  const role = env.role ?? "owner";
  return {
    listPairingRequests: unary("ListPairingRequests", env, async (req) => {
      const r = validate(pagedScopeSchema, req);
      const page = await dm.listRequests(r.channel, r.accountId, r);
      return { requests: page.items.map(pairingRequest), nextPageToken: page.nextPageToken };
    }),
    approvePairingCode: unary("ApprovePairingCode", env, async (req, ctx) => {
      const r = validate(approveSchema, req);
      const result = await dm.approve(r.channel, r.accountId, r.code, r.notify, ctx.role);
      return {
        sender: allowedSender(result.sender),
        notifyStatus: NOTIFY[result.notifyStatus],
        notificationId: result.notificationId,
      };
    }),
    rejectPairingRequest: unary("RejectPairingRequest", env, async (req, ctx) => {
      const r = validate(codeSchema, req);
      return { request: pairingRequest(await dm.reject(r.channel, r.accountId, r.code, ctx.role)) };
    }),
    listAllowedSenders: unary("ListAllowedSenders", env, async (req) => {
      const r = validate(pagedScopeSchema, req);
      const page = await dm.listAllowed(r.channel, r.accountId, r);
      return { senders: page.items.map(allowedSender), nextPageToken: page.nextPageToken };
    }),
    addAllowedSender: unary("AddAllowedSender", env, async (req) => {
      const r = validate(senderSchema, req);
      const result = await dm.addAllowed(r.channel, r.accountId, r.senderId, role);
      return { sender: allowedSender(result.sender), created: result.created };
    }),
    revokeAllowedSender: unary("RevokeAllowedSender", env, async (req) => {
      const r = validate(senderSchema, req);
      return { sender: allowedSender(await dm.revokeAllowed(r.channel, r.accountId, r.senderId, role)) };
    }),
    listChannels: unary("ListChannels", env, async () => ({ channels: (await dm.listChannels()).map(channelStatus) })),
    watchPairingEvents: serverStream("WatchPairingEvents", env, async (req, sink, ctx) => {
      const r = validate(watchSchema, req);
      // Empty filters mean "all"; anything else must name a supported channel / valid account.
      const channel = r.channel.trim() === "" ? "" : resolveChannel(r.channel).id;
      const account = r.accountId.trim() === "" ? "" : normalizeAccountId(r.accountId);
      const unsubscribe = dm.events.subscribe((e) => {
        if (channel !== "" && e.channel !== channel) return;
        if (account !== "" && e.accountId !== account) return;
        const message: WatchPairingEventsResponse = {
          type: EVENT[e.type],
          channel: e.channel,
          accountId: e.accountId,
          senderId: e.senderId,
          code: e.code,
          atMs: e.atMs,
          senderMeta: e.meta,
          failedAttempts: e.failedAttempts ?? 0,
          callerRole: e.callerRole === undefined ? CallerRole.CALLER_ROLE_UNSPECIFIED : ROLE[e.callerRole],
        };
        sink.send(message);
      });
      try {
        await untilAborted(ctx.signal);
      } finally {
        unsubscribe();
      }
    }),
  };
}
