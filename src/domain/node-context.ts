import { createHash, type KeyObject, randomBytes } from "node:crypto";
import { AuditLog } from "./audit-log";
import type { Clock } from "./clock";
import { publicKeyObject, verifyEd25519 } from "./ed25519-key";
import { UnauthenticatedError } from "./errors";
import { EventHub } from "./event-hub";
import type { GatewayIdentity } from "./gateway-identity";
import type { Logger } from "./logger";
import { type ChallengeTable, MemoryChallenges, NodeChallenges, type NodeChallengesOptions, StoreChallenges } from "./node-challenges";
import { deviceInfoOf, livePreviousTokenHash, type NodeRecord, type NodeRequestRecord, tokenUsed } from "./node-records";
import { NodeSessions, type SessionTable, StoreSessions } from "./node-sessions";
import type { NodeEvent, NodeScopedEvent, PairedNodeView, RequestUpdate } from "./node-types";
import type { SharedStore, StoreTx, Subscription } from "./shared-store";
import { buildSignedPayload, type SignPurposeValue } from "./signed-payload";

/** Pending requests live 5 minutes from their last refresh; at most 32 (config) at once. */
export const NODE_PENDING_TTL_MS = 5 * 60_000;
export const DEFAULT_MAX_PENDING_NODES = 32;
/** Pending requests one peer network may hold at once. */
export const DEFAULT_MAX_PENDING_NODES_PER_PEER = 4;
/** Prefix of node tokens ("pairgate node"). */
export const NODE_TOKEN_PREFIX = "pgn_";
/**
 * Imported public keys kept for reuse. A KeyObject holds ~1.5 kB of OpenSSL memory (10,000 measured
 * at +14.8 MB RSS), while importing a raw key costs ~7 µs of a ~500 µs handshake: a small cache keeps
 * the nodes that reconnect often without holding a key per paired node.
 */
const MAX_CACHED_KEYS = 1024;
/** The one lock of node pairing state: node state changes are rare, so one lock keeps them simple. */
export const NODE_LOCK = "nodes";
/** Change-feed topics: owner-facing node events, per-node events (WatchNode, Connect), request updates (AwaitPairing). */
export const NODE_EVENTS_TOPIC = "node.events";
export const NODE_SCOPED_TOPIC = "node.scoped";
export const NODE_REQUESTS_TOPIC = "node.requests";
/** How long AwaitPairing still answers for a resolved (approved/rejected/expired) request. */
export const RESOLVED_MEMORY_MS = 10 * 60_000;
const MAX_RESOLVED_MEMORY = 4096;

/** Dependencies and settings of the node pairing engine. */
export interface NodePairingOptions {
  store: SharedStore;
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
 * NodeContext is what every node use case shares: dependencies, settings, the challenge and session
 * tables (memory on the embedded store, the store when several daemons share it), the key cache and
 * the event hubs. State changes run in `store.transact(NODE_LOCK, …)` and publish their events in the
 * same transaction; the hubs are fed from the store's change feed, so every daemon sees every change.
 */
export class NodeContext {
  readonly store: SharedStore;
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
  readonly challenges: ChallengeTable;
  readonly sessions: SessionTable;
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
  readonly #subscriptions: Subscription[];

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
    const local = new NodeChallenges(options.clock, options.challenges);
    const exclusive = options.store.exclusive;
    this.challenges = exclusive ? new MemoryChallenges(local) : new StoreChallenges(local, options.store, options.clock);
    this.sessions = exclusive ? new NodeSessions(options.clock) : new StoreSessions(options.store, options.clock);
    const onError = (err: unknown): void => this.log.error("change feed failed: node events from other instances are not seen", { cause: String(err) });
    this.#subscriptions = [
      this.store.subscribe(NODE_EVENTS_TOPIC, (e) => this.events.emit(e.event as NodeEvent), { onError }),
      this.store.subscribe(NODE_SCOPED_TOPIC, (e) => this.#onNodeEvent(e.event as NodeScopedEvent), { onError }),
      this.store.subscribe(NODE_REQUESTS_TOPIC, (e) => this.#onRequestUpdate(e.event as RequestUpdate), { onError }),
    ];
  }

  /** Resolves once the change-feed subscriptions are live. */
  async ready(): Promise<void> {
    await Promise.all(this.#subscriptions.map((s) => s.ready));
  }

  /** Ends the change-feed subscriptions (at daemon stop). */
  close(): void {
    for (const s of this.#subscriptions) s.close();
  }

  /**
   * How request `requestId` was resolved lately (10 minutes), or undefined: this daemon's memory on
   * the embedded store, the store (read in `tx` when given) when several daemons share it.
   */
  async resolvedRequest(requestId: string, tx?: StoreTx): Promise<{ nodeId: string; status: RequestUpdate["status"] } | undefined> {
    if (this.store.exclusive) return this.resolved.get(requestId);
    const stored = await (tx ?? this.store).get("nodeResolved", requestId);
    return stored !== undefined && this.clock.now() < stored.expiresAtMs ? stored : (this.resolved.get(requestId) ?? undefined);
  }

  /** Publishes an owner-facing node event in `tx`. */
  publishEvent(tx: StoreTx, event: NodeEvent): void {
    tx.publish(NODE_EVENTS_TOPIC, event);
  }

  /** Publishes a per-node event in `tx`; revoked / repaired also end the node's sessions everywhere. */
  publishNodeEvent(tx: StoreTx, event: NodeScopedEvent): void {
    tx.publish(NODE_SCOPED_TOPIC, event);
  }

  /** Publishes a request update in `tx` (resolved ones are remembered by every daemon for a while). */
  publishRequest(tx: StoreTx, update: RequestUpdate): void {
    tx.publish(NODE_REQUESTS_TOPIC, update);
  }

  #onNodeEvent(e: NodeScopedEvent): void {
    if (e.type === "revoked" || e.type === "repaired") {
      this.sessions.endNode(e.nodeId);
      this.forgetKey(e.nodeId);
      if (e.type === "revoked") this.lastSeen.delete(e.nodeId);
    }
    this.nodeEvents.emit(e);
  }

  #onRequestUpdate(u: RequestUpdate): void {
    if (u.status !== "pending") {
      const now = this.clock.monotonic();
      for (const [id, e] of this.resolved) {
        if (this.resolved.size < MAX_RESOLVED_MEMORY && now - e.atMono < RESOLVED_MEMORY_MS) break;
        this.resolved.delete(id);
      }
      this.resolved.set(u.requestId, { ...u, atMono: now });
    }
    this.requestUpdates.emit(u);
  }

  /** Applies a config reload: the pending limit and loopback auto-approval, synchronously. */
  reconfigure(settings: NodeLiveSettings): void {
    this.maxPending = settings.maxPending;
    this.autoApproveLoopback = settings.autoApproveLoopback;
  }

  /** The paired node `nodeId` (read in `tx` when given). Throws UnauthenticatedError when it is not paired, UnavailableError. */
  async pairedOrFail(nodeId: string, tx?: StoreTx): Promise<NodeRecord> {
    const node = await (tx ?? this.store).get("nodes", nodeId);
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
