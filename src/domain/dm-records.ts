/** What the store keeps for one pending DM pairing request (collection `dmRequests`). */
export interface DmRequestRecord {
  code: string;
  createdAtMs: number;
  lastSeenAtMs: number;
  expiresAtMs: number;
  meta: Record<string, string>;
}

/** Index from a live code to its sender (collection `dmCodes`). */
export interface DmCodeIndexRecord {
  senderId: string;
}

/** Index entry ordering pending requests by expiry (collection `dmExpiry`); the key says it all. */
export interface DmExpiryIndexRecord {
  channel: string;
  accountId: string;
  senderId: string;
}

/** How a sender got onto the approved store. */
export type ApprovalVia = "pairing-code" | "added";

/** One approved sender (collection `dmAllow`). */
export interface DmAllowRecord {
  approvedAtMs: number;
  via: ApprovalVia;
  meta: Record<string, string>;
}

/** Kinds of outbox notifications. */
export type NotificationKind = "pairing-approved";

/** One undelivered notification (collection `dmOutbox`). */
export interface DmOutboxRecord {
  id: string;
  kind: NotificationKind;
  channel: string;
  accountId: string;
  senderId: string;
  text: string;
  createdAtMs: number;
}

/** Counters of one channel account (collection `dmScopeStats`), updated in the same batch as `dmAllow`. */
export interface DmScopeStatsRecord {
  approvedCount: number;
}
