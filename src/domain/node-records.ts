/** How a node's current pairing was approved: by the owner, by loopback auto-approval, or by an invite. */
export type ApprovedVia = "owner" | "auto-loopback" | "invite";

/** What a node reports about itself (after the gateway trimmed and checked it). */
export interface NodeDeviceInfo {
  displayName: string;
  platform: string;
  version: string;
  deviceFamily: string;
  modelIdentifier: string;
  caps: string[];
}

/** Copies just the device info out of a record or view that has it. */
export function deviceInfoOf(r: NodeDeviceInfo): NodeDeviceInfo {
  return {
    displayName: r.displayName,
    platform: r.platform,
    version: r.version,
    deviceFamily: r.deviceFamily,
    modelIdentifier: r.modelIdentifier,
    caps: r.caps,
  };
}

/**
 * One pending node pairing request (collection `nodeRequests`, keyed by request id). Holds only public
 * data: the node's public key and what it reported about itself.
 */
export interface NodeRequestRecord extends NodeDeviceInfo {
  requestId: string;
  nodeId: string;
  /** The raw 32-byte Ed25519 public key, base64url. */
  publicKey: string;
  /** The address the (latest) request came from. */
  remoteIp: string;
  /** The node was already paired when it (last) asked. */
  isRepair: boolean;
  createdAtMs: number;
  refreshedAtMs: number;
  expiresAtMs: number;
}

/** Index from a node id to its one live pending request (collection `nodeRequestByNode`). */
export interface NodeRequestByNodeRecord {
  requestId: string;
}

/** Index entry ordering pending requests by expiry (collection `nodeRequestExpiry`); the key says it all. */
export interface NodeRequestExpiryRecord {
  requestId: string;
}

/**
 * One paired node (collection `nodes`, keyed by node id). The node token is never stored: only its
 * SHA-256 (`tokenHash`, hex), "" until the node claims its token.
 *
 * Token delivery survives a lost reply: a token is "issued" until its first successful Authenticate
 * (`tokenUsedAtMs` 0) and "used" after it. While the claimed token is unused, ClaimToken may be
 * repeated (each repeat replaces it). After RotateToken the previous token (`previousTokenHash`) keeps
 * working until the new one is first used or `previousTokenExpiresAtMs` passes. Records written before
 * these fields existed read as "used, no previous token" (see {@link tokenUsed}).
 */
export interface NodeRecord extends NodeDeviceInfo {
  nodeId: string;
  /** The raw 32-byte Ed25519 public key, base64url. SHA-256 of it is `nodeId`. */
  publicKey: string;
  remoteIp: string;
  /** First pairing (kept across repairs). */
  pairedAtMs: number;
  approvedAtMs: number;
  approvedVia: ApprovedVia;
  /** The request whose approval created the current pairing. */
  requestId: string;
  /** The invite that approved the current pairing (`approvedVia` "invite"); missing otherwise. */
  inviteId?: string;
  /** Lowercase hex SHA-256 of the current node token; "" while the token is unclaimed. */
  tokenHash: string;
  /** When the current token was issued (claimed or rotated); 0 while unclaimed. */
  tokenIssuedAtMs: number;
  /**
   * When the current token was first used (first successful Authenticate); 0 while issued but not yet
   * used. Missing in older records: the token counts as used.
   */
  tokenUsedAtMs?: number;
  /**
   * Lowercase hex SHA-256 of the token the current one replaced by RotateToken, still accepted while
   * the current token is unused and until {@link previousTokenExpiresAtMs}; "" or missing: none.
   */
  previousTokenHash?: string;
  /** Wall-clock Unix ms after which {@link previousTokenHash} is refused; 0 or missing: none. */
  previousTokenExpiresAtMs?: number;
}

/** How long the previous token keeps working after RotateToken while the new one is unused: 10 minutes. */
export const PREVIOUS_TOKEN_GRACE_MS = 10 * 60_000;

/** The record's current token has been used to authenticate (older records without the field: yes). */
export function tokenUsed(r: NodeRecord): boolean {
  return r.tokenHash !== "" && r.tokenUsedAtMs !== 0;
}

/** The previous token's hash while it is still accepted at `nowMs`, else "". */
export function livePreviousTokenHash(r: NodeRecord, nowMs: number): string {
  const hash = r.previousTokenHash ?? "";
  return hash !== "" && !tokenUsed(r) && nowMs < (r.previousTokenExpiresAtMs ?? 0) ? hash : "";
}

/**
 * One invite (collection `nodeInvites`, keyed by invite id): a setup secret with which nodes may pair
 * without a separate owner approval (docs/protocol.md §3b). The secret is never stored: only the
 * public half of the Ed25519 key derived from SHA-256 of it, which can verify an invite proof but not
 * make one. Deleted on revocation and by the sweep after expiry.
 */
export interface NodeInviteRecord {
  /** 16 lowercase hex characters; not secret. */
  inviteId: string;
  /** The owner's label, also the node's suggested display name ("" = none). */
  name: string;
  /** The raw 32-byte Ed25519 public key of the invite key, base64url. */
  verifyKey: string;
  createdAtMs: number;
  /** Wall-clock Unix ms from which the invite is refused. */
  expiresAtMs: number;
  maxUses: number;
  uses: number;
  /** 0 if never used. */
  lastUsedAtMs: number;
  /** "" if never used. */
  lastNodeId: string;
}
