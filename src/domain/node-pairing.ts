import type { EventHub } from "./event-hub";
import type { Challenge } from "./node-challenges";
import { NODE_LOCK, NodeContext, type NodeLiveSettings, type NodePairingOptions } from "./node-context";
import { authenticate, heartbeat, watchNode } from "./node-authentication";
import { approve, expireDue, followRequest, listPending, reject, requestPairing } from "./node-enrollment";
import { checkNodeId } from "./node-input";
import type { ApprovedVia } from "./node-records";
import { listNodes, rename, revoke } from "./node-registry";
import { claimToken, rotateToken } from "./node-tokens";
import type {
  GatewayInfo,
  NodeEvent,
  NodePairingInput,
  NodePairingTicket,
  NodeScopedEvent,
  NodeWatch,
  PairedNodeView,
  PendingNodeView,
  RequestOrigin,
  RequestUpdate,
} from "./node-types";
import type { Page, PageRequest } from "./paging";
import { SIGNED_PAYLOAD_VERSION } from "./signed-payload";

export { DEFAULT_MAX_PENDING_NODES, NODE_PENDING_TTL_MS, NODE_TOKEN_PREFIX, type NodeLiveSettings, type NodePairingOptions } from "./node-context";
export { checkNodeId, MAX_DISPLAY_NAME_LENGTH, normalizeDisplayName } from "./node-input";
export type * from "./node-types";

/**
 * NodePairing is the node pairing engine: challenges, pairing requests and their approval, token
 * claim, challenge-response authentication, sessions, rotation and revocation. It is a facade over the
 * use-case modules (node-enrollment, node-tokens, node-authentication, node-registry), which share one
 * {@link NodeContext}.
 *
 * Every state change is one atomic store write (approve, reject, revoke, claim and rotate are synced)
 * made under one in-process lock, so two approvals of one request grant once. Secrets (node tokens,
 * session tokens) are only ever stored as SHA-256 and compared with timingSafeEqual; nonces and
 * sessions live in memory.
 */
export class NodePairing {
  readonly #ctx: NodeContext;

  constructor(options: NodePairingOptions) {
    this.#ctx = new NodeContext(options);
  }

  /** Applies a config reload (pending limit, loopback auto-approval). See {@link NodeContext.reconfigure}. */
  reconfigure(settings: NodeLiveSettings): void {
    this.#ctx.reconfigure(settings);
  }

  /** Owner-facing events (requested, approved, rejected, expired, revoked, renamed). */
  get events(): EventHub<NodeEvent> {
    return this.#ctx.events;
  }

  /** Per-node events for WatchNode streams. */
  get nodeEvents(): EventHub<NodeScopedEvent> {
    return this.#ctx.nodeEvents;
  }

  /** The gateway's identity, name and version. */
  gatewayInfo(): GatewayInfo {
    const ctx = this.#ctx;
    return {
      gatewayId: ctx.identity.gatewayId,
      name: ctx.name,
      version: ctx.version,
      publicKey: ctx.identity.publicKey,
      protocolVersion: SIGNED_PAYLOAD_VERSION,
    };
  }

  /** Issues a nonce for `nodeId`. Throws InvalidArgumentError for a malformed id, ResourceExhaustedError. */
  createChallenge(nodeId: string): Challenge {
    checkNodeId(nodeId);
    return this.#ctx.challenges.issue(nodeId);
  }

  /** See {@link requestPairing}. */
  requestPairing(input: NodePairingInput, origin: RequestOrigin): Promise<NodePairingTicket> {
    return requestPairing(this.#ctx, input, origin);
  }

  /** See {@link followRequest}. */
  followRequest(requestId: string, nodeId: string, deliver: (u: RequestUpdate) => void): Promise<() => void> {
    return followRequest(this.#ctx, requestId, nodeId, deliver);
  }

  /** See {@link claimToken}. */
  claimToken(nodeId: string, nonce: Uint8Array, signature: Uint8Array): Promise<{ token: string; displayName: string }> {
    return claimToken(this.#ctx, nodeId, nonce, signature);
  }

  /** See {@link authenticate}. */
  authenticate(
    nodeId: string,
    nonce: Uint8Array,
    signature: Uint8Array,
    token: string,
  ): { sessionToken: string; expiresAtMs: number; displayName: string } {
    return authenticate(this.#ctx, nodeId, nonce, signature, token);
  }

  /** See {@link heartbeat}. */
  heartbeat(sessionToken: string): { serverTimeMs: number; sessionExpiresAtMs: number } {
    return heartbeat(this.#ctx, sessionToken);
  }

  /** See {@link rotateToken}. */
  rotateToken(sessionToken: string, nonce: Uint8Array, signature: Uint8Array): Promise<{ token: string }> {
    return rotateToken(this.#ctx, sessionToken, nonce, signature);
  }

  /** See {@link watchNode}. */
  watchNode(sessionToken: string, deliver: (e: NodeScopedEvent) => void): NodeWatch {
    return watchNode(this.#ctx, sessionToken, deliver);
  }

  /** See {@link listPending}. */
  listPending(page: PageRequest, requestIdPrefix = ""): Promise<Page<PendingNodeView>> {
    return listPending(this.#ctx, page, requestIdPrefix);
  }

  /** See {@link approve}. */
  approve(requestId: string, via: ApprovedVia = "owner"): Promise<PairedNodeView> {
    return approve(this.#ctx, requestId, via);
  }

  /** See {@link reject}. */
  reject(requestId: string): Promise<PendingNodeView> {
    return reject(this.#ctx, requestId);
  }

  /** See {@link listNodes}. */
  listNodes(page: PageRequest, nodeIdPrefix = ""): Promise<Page<PairedNodeView>> {
    return listNodes(this.#ctx, page, nodeIdPrefix);
  }

  /** See {@link rename}. */
  rename(nodeId: string, rawName: string): Promise<PairedNodeView> {
    return rename(this.#ctx, nodeId, rawName);
  }

  /** See {@link revoke}. */
  revoke(nodeId: string): Promise<PairedNodeView> {
    return revoke(this.#ctx, nodeId);
  }

  /**
   * Removes pending requests past their TTL (emitting "expired" for each), drops expired nonces and
   * sessions. Returns how many requests expired. The daemon calls this periodically.
   */
  async sweepExpired(): Promise<number> {
    const ctx = this.#ctx;
    ctx.challenges.prune();
    ctx.sessions.prune();
    return ctx.mutex.run(NODE_LOCK, () => expireDue(ctx, ctx.clock.now()));
  }
}
