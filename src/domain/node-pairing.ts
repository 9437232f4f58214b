import type { AuditRole } from "./audit-log";
import type { EventHub } from "./event-hub";
import type { Challenge } from "./node-challenges";
import { checkClientNonce, proveChallenge, proveGatewayInfo } from "./gateway-proof";
import { NODE_LOCK, NodeContext, type NodeLiveSettings, type NodePairingOptions } from "./node-context";
import { authenticate, type AuthenticateResult, heartbeat, watchNode } from "./node-authentication";
import { approve, expireDue, followRequest, listPending, reject, requestPairing } from "./node-enrollment";
import { checkNodeId } from "./node-input";
import { createInvite, type InviteRequest, listInvites, requestPairingByInvite, revokeInvite, sweepInvites } from "./node-invites";
import type { ApprovedVia } from "./node-records";
import { listNodes, rename, revoke } from "./node-registry";
import { claimToken, rotateToken } from "./node-tokens";
import type {
  CreatedInvite,
  GatewayInfo,
  NodeInviteView,
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
import { peerNetworkOf } from "./peer-network";
import { SIGNED_PAYLOAD_VERSION } from "./signed-payload";

export {
  DEFAULT_MAX_ACTIVE_INVITES,
  DEFAULT_MAX_PENDING_NODES,
  DEFAULT_MAX_PENDING_NODES_PER_PEER,
  NODE_PENDING_TTL_MS,
  NODE_TOKEN_PREFIX,
  type NodeLiveSettings,
  type NodePairingOptions,
} from "./node-context";
export { checkNodeId, MAX_DISPLAY_NAME_LENGTH, normalizeDisplayName } from "./node-input";
export {
  DEFAULT_INVITE_TTL_MS,
  type InviteRequest,
  MAX_INVITE_TTL_MS,
  MAX_INVITE_USES,
  MIN_INVITE_TTL_MS,
} from "./node-invites";
export type { AuthenticateResult } from "./node-authentication";
export { PREVIOUS_TOKEN_GRACE_MS } from "./node-records";
export type * from "./node-types";

/**
 * NodePairing is the node pairing engine: challenges, pairing requests and their approval, token
 * claim, challenge-response authentication, sessions, rotation and revocation. It is a facade over the
 * use-case modules (node-enrollment, node-tokens, node-authentication, node-registry), which share one
 * {@link NodeContext}.
 *
 * Every state change is one atomic store transaction (approve, reject, revoke, claim and rotate are
 * synced) under one lock shared by every daemon on the store, so two approvals of one request grant
 * once. Secrets (node tokens, session tokens) are only ever stored as SHA-256 and compared with
 * timingSafeEqual; nonces and sessions live in memory on the embedded store and in the store when
 * several daemons share it.
 */
export class NodePairing {
  readonly #ctx: NodeContext;

  constructor(options: NodePairingOptions) {
    this.#ctx = new NodeContext(options);
  }

  /** Resolves once the engine follows the store's change feed (events of other daemons). */
  ready(): Promise<void> {
    return this.#ctx.ready();
  }

  /** Stops following the change feed (daemon stop). */
  close(): void {
    this.#ctx.close();
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

  /**
   * The gateway's identity, name and version, with a gateway proof over `clientNonce` when one is given
   * (docs/protocol.md §7). Throws InvalidArgumentError for a client nonce of a bad length.
   */
  gatewayInfo(clientNonce: Uint8Array = new Uint8Array()): GatewayInfo {
    const ctx = this.#ctx;
    checkClientNonce(clientNonce);
    const info = { name: ctx.name, version: ctx.version, protocolVersion: SIGNED_PAYLOAD_VERSION };
    return {
      gatewayId: ctx.identity.gatewayId,
      publicKey: ctx.identity.publicKey,
      ...info,
      gatewaySignature: proveGatewayInfo(ctx.identity, info, clientNonce),
    };
  }

  /**
   * Issues a nonce for `nodeId` to the peer at `remoteIp` (counted per peer network; paired ids draw
   * from their own pool, see NodeChallenges), with a gateway proof over it when the node sent a
   * `clientNonce`. Throws InvalidArgumentError for a malformed id or client nonce,
   * ResourceExhaustedError with `retryAfterMs`.
   */
  async createChallenge(nodeId: string, remoteIp: string, clientNonce: Uint8Array = new Uint8Array()): Promise<Challenge & { gatewaySignature: Buffer }> {
    checkNodeId(nodeId);
    checkClientNonce(clientNonce);
    const paired = (await this.#ctx.store.get("nodes", nodeId)) !== undefined;
    const challenge = await this.#ctx.challenges.issue(nodeId, peerNetworkOf(remoteIp), paired);
    const gatewaySignature = proveChallenge(this.#ctx.identity, nodeId, challenge.nonce, challenge.expiresAtMs, clientNonce);
    return { ...challenge, gatewaySignature };
  }

  /**
   * See {@link requestPairing}; a request with an `inviteId` is a pairing by invite, see
   * {@link requestPairingByInvite}.
   */
  requestPairing(input: NodePairingInput, origin: RequestOrigin): Promise<NodePairingTicket> {
    if ((input.inviteId ?? "") !== "") return requestPairingByInvite(this.#ctx, input, origin);
    return requestPairing(this.#ctx, input, origin);
  }

  /** See {@link createInvite}. */
  createInvite(request: InviteRequest): Promise<CreatedInvite> {
    return createInvite(this.#ctx, request);
  }

  /** See {@link listInvites}. */
  listInvites(): Promise<NodeInviteView[]> {
    return listInvites(this.#ctx);
  }

  /** See {@link revokeInvite}. */
  revokeInvite(inviteId: string): Promise<NodeInviteView> {
    return revokeInvite(this.#ctx, inviteId);
  }

  /** The gateway id (what invite URIs carry). */
  get gatewayId(): string {
    return this.#ctx.identity.gatewayId;
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
  ): Promise<AuthenticateResult> {
    return authenticate(this.#ctx, nodeId, nonce, signature, token);
  }

  /** See {@link heartbeat}. */
  heartbeat(sessionToken: string): Promise<{ serverTimeMs: number; sessionExpiresAtMs: number }> {
    return heartbeat(this.#ctx, sessionToken);
  }

  /** See {@link rotateToken}. */
  rotateToken(sessionToken: string, nonce: Uint8Array, signature: Uint8Array): Promise<{ token: string }> {
    return rotateToken(this.#ctx, sessionToken, nonce, signature);
  }

  /** See {@link watchNode}. */
  watchNode(sessionToken: string, deliver: (e: NodeScopedEvent) => void): Promise<NodeWatch> {
    return watchNode(this.#ctx, sessionToken, deliver);
  }

  /** See {@link listPending}. */
  listPending(page: PageRequest, requestIdPrefix = ""): Promise<Page<PendingNodeView>> {
    return listPending(this.#ctx, page, requestIdPrefix);
  }

  /** See {@link approve}. */
  approve(requestId: string, via: ApprovedVia = "owner", role?: AuditRole): Promise<PairedNodeView> {
    return approve(this.#ctx, requestId, via, role);
  }

  /** See {@link reject}. */
  reject(requestId: string, role: AuditRole = "owner"): Promise<PendingNodeView> {
    return reject(this.#ctx, requestId, role);
  }

  /** See {@link listNodes}. */
  listNodes(page: PageRequest, nodeIdPrefix = ""): Promise<Page<PairedNodeView>> {
    return listNodes(this.#ctx, page, nodeIdPrefix);
  }

  /** See {@link rename}. */
  rename(nodeId: string, rawName: string, role: AuditRole = "owner"): Promise<PairedNodeView> {
    return rename(this.#ctx, nodeId, rawName, role);
  }

  /** See {@link revoke}. */
  revoke(nodeId: string, role: AuditRole = "owner"): Promise<PairedNodeView> {
    return revoke(this.#ctx, nodeId, role);
  }

  /**
   * Removes pending requests past their TTL (emitting "expired" for each), drops expired nonces and
   * sessions. Returns how many requests expired. The daemon calls this periodically.
   */
  async sweepExpired(): Promise<number> {
    const ctx = this.#ctx;
    await ctx.challenges.prune();
    await ctx.sessions.prune();
    const expired = await ctx.store.transact(
      NODE_LOCK,
      async (tx) => {
        const now = ctx.clock.now();
        await sweepInvites(ctx, tx, now);
        return expireDue(ctx, tx, now);
      },
      { durable: false },
    );
    for (const r of expired) ctx.log.info("node pairing request expired", { node: r.nodeId, request: r.requestId });
    return expired.length;
  }
}
