import type { DmOutboxRecord } from "./dm-records";
import type { DmPolicyName } from "./dm-policies";

/**
 * The DM pairing engine's public shapes: what adapters and the owner send and get back, and the events
 * watchers see. Shared by the use-case modules (dm-inbound, dm-approval, dm-allowlist, dm-outbox).
 */

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
  /** Wrong or malformed codes tried on this account in the last 15 minutes (every socket). */
  approveMissesRecent: number;
  /** Wrong or malformed codes tried on this account since the daemon started. */
  approveMissesTotal: number;
}

/** A pairing event for watchers. */
export interface PairingEvent {
  type: "requested" | "approved" | "rejected" | "expired" | "revoked" | "approve-failed";
  channel: string;
  accountId: string;
  senderId: string;
  code: string;
  atMs: number;
  meta: Record<string, string>;
  /** approve-failed only: misses on this (socket, account) in the current 15-minute window. */
  failedAttempts?: number;
  /** approve-failed only: the socket the misses came from. */
  callerRole?: CallerRole;
}

/**
 * Which unix socket a call came in on: "owner" (pairgate.sock, mode 0600, every service) or
 * "adapter" (adapter.sock, DmAccessService only).
 */
export type CallerRole = "owner" | "adapter";

/** A notification to deliver to a sender. */
export type Notification = DmOutboxRecord;

