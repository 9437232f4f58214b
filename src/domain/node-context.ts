import { createHash, type KeyObject, randomBytes } from "node:crypto";
import { AuditLog } from "./audit-log";
import type { Clock } from "./clock";
import { publicKeyObject, verifyEd25519 } from "./ed25519-key";
import { UnauthenticatedError } from "./errors";
import { EventHub } from "./event-hub";
import type { GatewayIdentity } from "./gateway-identity";
import { KeyedMutex } from "./keyed-mutex";
import type { Logger } from "./logger";
import { NodeChallenges, type NodeChallengesOptions } from "./node-challenges";
import { deviceInfoOf, livePreviousTokenHash, type NodeRecord, type NodeRequestRecord, tokenUsed } from "./node-records";
import { NodeSessions } from "./node-sessions";
import type { NodeEvent, NodeScopedEvent, PairedNodeView, RequestUpdate } from "./node-types";
import { buildSignedPayload, type SignPurposeValue } from "./signed-payload";
import type { Store } from "./store";

/** Pending requests live 5 minutes from their last refresh; at most 32 (config) at once. */
export const NODE_PENDING_TTL_MS = 5 * 60_000;
export const DEFAULT_MAX_PENDING_NODES = 32;
/** Pending requests one peer network may hold at once. */
export const DEFAULT_MAX_PENDING_NODES_PER_PEER = 4;
/** Prefix of node tokens ("pairgate node"). */
export const NODE_TOKEN_PREFIX = "pgn_";
const MAX_CACHED_KEYS = 10_000;
/** The one lock of node pairing state: node state changes are rare, so one lock keeps them simple. */
export const NODE_LOCK = "nodes";

/** Dependencies and settings of the node pairing engine. */
export interface NodePairingOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  identity: GatewayIdentity;
  /** Gateway display name (GetGatewayInfo). */
  gatewayName: string;
  /** pairgate version (GetGatewayInfo). */
  version: string;
  /** @default DEFAULT_MAX_PENDING_NODES */
  maxPending?: number;
  /** @default DEFAULT_MAX_PENDING_NODES_PER_PEER */
  maxPendingPerPeer?: number;
  /** @default NODE_PENDING_TTL_MS */
  pendingTtlMs?: number;
  /** Approve requests from loopback peers without the owner. @default false */
  autoApproveLoopback?: boolean;
  /** Challenge bounds (`nodes.limits`). */
  challenges?: NodeChallengesOptions;
  /** The audit trail (one per daemon). @default a new AuditLog on `store` */
  audit?: AuditLog;
  /** Live invites at once (`nodes.invites.maxActive`). @default DEFAULT_MAX_ACTIVE_INVITES */
  maxActiveInvites?: number;
}

/** Live node invites at once, unless configured. */
export const DEFAULT_MAX_ACTIVE_INVITES = 16;

/** The node settings a config reload may change while the daemon runs. */
export interface NodeLiveSettings {
  maxPending: number;
  autoApproveLoopback: boolean;
}

/**
 * NodeContext is what every node use case shares: dependencies, settings, the one node lock, the
 * in-memory challenge and session tables, the key cache and the event hubs. State changes run under
 * `mutex.run(NODE_LOCK, …)`.
 */
export class NodeContext {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  /** Builds the audit record each state change writes in its own batch. */
  readonly audit: AuditLog;
  readonly identity: GatewayIdentity;
  readonly name: string;
  readonly version: string;
  /** Changed only through reconfigure() (config reload). */
  maxPending: number;
  readonly maxPendingPerPeer: number;
  readonly ttlMs: number;
  readonly maxActiveInvites: number;
  /** Changed only through reconfigure() (config reload). */
  autoApproveLoopback: boolean;
  readonly mutex = new KeyedMutex();
  readonly challenges: NodeChallenges;
  readonly sessions: NodeSessions;
  /** Owner-facing events (requested, approved, rejected, expired, revoked, renamed). */
  readonly events = new EventHub<NodeEvent>();
  /** Per-node events for WatchNode streams. */
  readonly nodeEvents = new EventHub<NodeScopedEvent>();
  /** Status changes of pairing requests (AwaitPairing). */
  readonly requestUpdates = new EventHub<RequestUpdate>();
  /**
   * Requests resolved lately (kept 10 minutes on the monotonic clock), so AwaitPairing and approve
   * can tell "already approved" from "unknown".
   */
  readonly resolved = new Map<string, RequestUpdate & { atMono: number }>();
  /** When each node was last seen (authenticate, heartbeat); memory only. */
  readonly lastSeen = new Map<string, number>();
  readonly #keys = new Map<string, KeyObject>();

  constructor(options: NodePairingOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.log = options.logger;
    this.audit = options.audit ?? new AuditLog(options.store, options.clock);
    this.identity = options.identity;
    this.name = options.gatewayName;
    this.version = options.version;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_NODES;
    this.maxPendingPerPeer = options.maxPendingPerPeer ?? DEFAULT_MAX_PENDING_NODES_PER_PEER;
    this.ttlMs = options.pendingTtlMs ?? NODE_PENDING_TTL_MS;
    this.maxActiveInvites = options.maxActiveInvites ?? DEFAULT_MAX_ACTIVE_INVITES;
    this.autoApproveLoopback = options.autoApproveLoopback ?? false;
    this.challenges = new NodeChallenges(options.clock, options.challenges);
    this.sessions = new NodeSessions(options.clock);
  }

  /** Applies a config reload: the pending limit and loopback auto-approval, synchronously. */
  reconfigure(settings: NodeLiveSettings): void {
    this.maxPending = settings.maxPending;
    this.autoApproveLoopback = settings.autoApproveLoopback;
  }

  /** The paired node `nodeId` (synchronous read). Throws UnauthenticatedError when it is not paired. */
  pairedOrFail(nodeId: string): NodeRecord {
    const node = this.store.collection("nodes").getSync(nodeId);
    if (node === undefined) throw new UnauthenticatedError("node not paired");
    return node;
  }

  /** The cached KeyObject of a paired node. */
  keyOf(node: NodeRecord): KeyObject {
    return this.key(node.nodeId, Buffer.from(node.publicKey, "base64url"));
  }

  /** The cached KeyObject of a node (node id = SHA-256 of the key, so the id names the key). */
  key(nodeId: string, publicKey: Buffer): KeyObject {
    let key = this.#keys.get(nodeId);
    if (key === undefined) {
      // Evict the oldest entry (Map keeps insertion order) rather than dropping the whole cache.
      if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.delete(this.#keys.keys().next().value as string);
      key = publicKeyObject(publicKey);
      this.#keys.set(nodeId, key);
    }
    return key;
  }

  /** Drops a node's cached key (revocation). */
  forgetKey(nodeId: string): void {
    this.#keys.delete(nodeId);
  }

  /** Verifies a node signature over the signed payload. Throws UnauthenticatedError. */
  verify(key: KeyObject, purpose: SignPurposeValue, nodeId: string, nonce: Uint8Array, body: Uint8Array, signature: Uint8Array): void {
    const payload = buildSignedPayload({ purpose, gatewayId: this.identity.gatewayId, nodeId, nonce, body });
    if (!verifyEd25519(key, payload, signature)) throw new UnauthenticatedError(`bad signature (purpose ${purpose})`);
  }

  /** A paired node as the owner sees it (no token, no token hash). */
  view(n: NodeRecord): PairedNodeView {
    return {
      nodeId: n.nodeId,
      publicKey: Buffer.from(n.publicKey, "base64url"),
      ...deviceInfoOf(n),
      remoteIp: n.remoteIp,
      pairedAtMs: n.pairedAtMs,
      approvedAtMs: n.approvedAtMs,
      approvedVia: n.approvedVia,
      inviteId: n.inviteId ?? "",
      tokenState: n.tokenHash === "" ? "awaiting-claim" : tokenUsed(n) ? "active" : "issued",
      tokenIssuedAtMs: n.tokenIssuedAtMs,
      previousTokenExpiresAtMs: livePreviousTokenHash(n, this.clock.now()) === "" ? 0 : (n.previousTokenExpiresAtMs ?? 0),
      lastSeenAtMs: this.lastSeen.get(n.nodeId) ?? 0,
      activeSessions: this.sessions.count(n.nodeId),
    };
  }
}

/** A fresh node token: the prefix and 256 random bits. */
export function newNodeToken(): string {
  return NODE_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** SHA-256 of a UTF-8 string, as hex. */
export function sha256Hex(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}

/** An owner-facing node event from a request or node record. */
export function nodeEvent(
  type: NodeEvent["type"],
  r: NodeRequestRecord | NodeRecord,
  atMs: number,
  approval: Pick<NodeEvent, "approvedVia" | "inviteId"> = { approvedVia: "", inviteId: "" },
): NodeEvent {
  return {
    ...approval,
    type,
    requestId: r.requestId,
    nodeId: r.nodeId,
    displayName: r.displayName,
    platform: r.platform,
    remoteIp: r.remoteIp,
    isRepair: "isRepair" in r ? r.isRepair : false,
    atMs,
  };
}
