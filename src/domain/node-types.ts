import type { ApprovedVia, NodeDeviceInfo, NodeRequestRecord } from "./node-records";

/**
 * The node pairing engine's public shapes: what nodes send and get back, what the owner sees, and the
 * events watchers get. Shared by the use-case modules (node-enrollment, node-tokens,
 * node-authentication, node-registry).
 */

/** The status of a pairing request. */
export type NodePairingStatus = "pending" | "approved" | "rejected" | "expired";

/** What a node sends with RequestPairing (strings exactly as sent; the signature covers these). */
export interface NodePairingInput extends NodeDeviceInfo {
  publicKey: Uint8Array;
  nonce: Uint8Array;
  signature: Uint8Array;
  /** "" (or missing) for an ordinary request; else the invite id of a pairing by invite. */
  inviteId?: string;
  /** With `inviteId`: the invite proof (64 bytes, docs/protocol.md §3b). */
  inviteProof?: Uint8Array;
}

/** Where a request came from, as the transport saw it. */
export interface RequestOrigin {
  remoteIp: string;
  /** The peer is on a loopback address. */
  loopback: boolean;
}

/** What RequestPairing returns. */
export interface NodePairingTicket {
  requestId: string;
  nodeId: string;
  status: NodePairingStatus;
  expiresAtMs: number;
  isRepair: boolean;
}

/** A status update of one request (AwaitPairing). */
export interface RequestUpdate {
  requestId: string;
  nodeId: string;
  status: NodePairingStatus;
  /** PENDING only; 0 otherwise. */
  expiresAtMs: number;
}

/** A pending request as the owner sees it. */
export type PendingNodeView = NodeRequestRecord;

/** A paired node as the owner sees it: no token, no token hash. */
export interface PairedNodeView extends NodeDeviceInfo {
  nodeId: string;
  publicKey: Buffer;
  remoteIp: string;
  pairedAtMs: number;
  approvedAtMs: number;
  approvedVia: ApprovedVia;
  /** The invite that approved the current pairing; "" unless `approvedVia` is "invite". */
  inviteId: string;
  /** awaiting-claim: approved, no token yet; issued: claimed or rotated, not yet used; active: used. */
  tokenState: "awaiting-claim" | "issued" | "active";
  tokenIssuedAtMs: number;
  /** While a rotated token is unused: when the previous token stops being accepted; else 0. */
  previousTokenExpiresAtMs: number;
  lastSeenAtMs: number;
  activeSessions: number;
}

/** An owner-facing node event (WatchNodeEvents). Never carries a secret. */
export interface NodeEvent {
  type: "requested" | "approved" | "rejected" | "expired" | "revoked" | "renamed";
  requestId: string;
  nodeId: string;
  displayName: string;
  platform: string;
  remoteIp: string;
  isRepair: boolean;
  atMs: number;
  /** "approved" only: how ("owner", "auto-loopback", "invite"); else "". */
  approvedVia: ApprovedVia | "";
  /** "approved" by invite only: the invite id; else "". */
  inviteId: string;
}

/** An invite as the owner sees it: never the secret (nor the verification key). */
export interface NodeInviteView {
  inviteId: string;
  name: string;
  createdAtMs: number;
  expiresAtMs: number;
  maxUses: number;
  uses: number;
  lastUsedAtMs: number;
  lastNodeId: string;
}

/** What creating an invite returns, once: the invite and its secret (raw 32 bytes). */
export interface CreatedInvite {
  invite: NodeInviteView;
  secret: Buffer;
}

/**
 * An event about one paired node, for that node's WatchNode streams. "revoked" and "repaired" end
 * the node's sessions.
 */
export interface NodeScopedEvent {
  /** "subscribed" is only the first message of a WatchNode stream, never published on the hub. */
  type: "subscribed" | "renamed" | "token-rotated" | "revoked" | "repaired";
  nodeId: string;
  displayName: string;
  atMs: number;
}

/** Information a node reads before pairing. */
export interface GatewayInfo {
  gatewayId: string;
  name: string;
  version: string;
  publicKey: Buffer;
  protocolVersion: number;
  /** The GATEWAY_INFO proof over the node's client nonce; empty when the node sent none. */
  gatewaySignature: Buffer;
}

/** An open WatchNode subscription. */
export interface NodeWatch {
  /** Rejects with UnauthenticatedError when the node is revoked or re-paired, or the session ends. */
  readonly ended: Promise<void>;
  /** Stops delivery (idempotent). */
  close(): void;
}

