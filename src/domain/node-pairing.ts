import { createHash, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "./clock";
import { nodeIdOf, publicKeyObject, validatePublicKey, verifyEd25519 } from "./ed25519-key";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnauthenticatedError,
} from "./errors";
import { EventHub } from "./event-hub";
import type { GatewayIdentity } from "./gateway-identity";
import { KeyedMutex } from "./keyed-mutex";
import type { Logger } from "./logger";
import { type Challenge, NodeChallenges, type NodeChallengesOptions } from "./node-challenges";
import { type ApprovedVia, deviceInfoOf, type NodeDeviceInfo, type NodeRecord, type NodeRequestRecord } from "./node-records";
import { NodeSessions } from "./node-sessions";
import { decodePageToken, effectivePageSize, encodePageToken, type Page, type PageRequest } from "./paging";
import {
  buildSignedPayload,
  digestBody,
  pairRequestBody,
  SIGNED_PAYLOAD_VERSION,
  SignPurpose,
  type SignPurposeValue,
} from "./signed-payload";
import { del, KEY_SEP, put, type Store, type WriteOp } from "./store";

/** Pending requests live 5 minutes from their last refresh; at most 32 (config) at once. */
export const NODE_PENDING_TTL_MS = 5 * 60_000;
export const DEFAULT_MAX_PENDING_NODES = 32;
/** Prefix of node tokens ("pairgate node"). */
export const NODE_TOKEN_PREFIX = "pgn_";
/** How long AwaitPairing still answers for a resolved (approved/rejected/expired) request. */
const RESOLVED_MEMORY_MS = 10 * 60_000;
const MAX_RESOLVED_MEMORY = 4096;
const MAX_CACHED_KEYS = 10_000;
/** The one lock of node pairing state: node state changes are rare, so one lock keeps them simple. */
const LOCK = "nodes";

/** The status of a pairing request. */
export type NodePairingStatus = "pending" | "approved" | "rejected" | "expired";

/** What a node sends with RequestPairing (strings exactly as sent; the signature covers these). */
export interface NodePairingInput extends NodeDeviceInfo {
  publicKey: Uint8Array;
  nonce: Uint8Array;
  signature: Uint8Array;
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
  tokenState: "awaiting-claim" | "active";
  tokenIssuedAtMs: number;
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
}

/**
 * An event about one paired node, for that node's WatchNode streams. "revoked" and "repaired" end
 * the node's sessions.
 */
export interface NodeScopedEvent {
  type: "renamed" | "token-rotated" | "revoked" | "repaired";
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
}

/** An open WatchNode subscription. */
export interface NodeWatch {
  /** Rejects with UnauthenticatedError when the node is revoked or re-paired, or the session ends. */
  readonly ended: Promise<void>;
  /** Stops delivery (idempotent). */
  close(): void;
}

/** Dependencies and settings of {@link NodePairing}. */
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
  /** @default NODE_PENDING_TTL_MS */
  pendingTtlMs?: number;
  /** Approve requests from loopback peers without the owner. @default false */
  autoApproveLoopback?: boolean;
  /** Challenge bounds (tests). */
  challenges?: NodeChallengesOptions;
}

/** Display names: 1..64 characters after trimming, no control or format characters. */
export const MAX_DISPLAY_NAME_LENGTH = 64;

/**
 * Normalizes a display name (trim) and checks it. Throws InvalidArgumentError naming `field`.
 */
export function normalizeDisplayName(raw: string, field = "display_name"): string {
  const name = raw.trim();
  if (name === "") throw new InvalidArgumentError(`${field} must not be empty`, field);
  if ([...name].length > MAX_DISPLAY_NAME_LENGTH) {
    throw new InvalidArgumentError(`${field} must be at most ${MAX_DISPLAY_NAME_LENGTH} characters`, field);
  }
  if (/[\p{Cc}\p{Cf}]/u.test(name)) throw new InvalidArgumentError(`${field} must not contain control characters`, field);
  return name;
}

/**
 * NodePairing is the node pairing engine: challenges, pairing requests and their approval, token
 * claim, challenge-response authentication, sessions, rotation and revocation.
 *
 * Every state change is one atomic store write (approve, reject, revoke, claim and rotate are synced)
 * made under one in-process lock, so two approvals of one request grant once. Secrets (node tokens,
 * session tokens) are only ever stored as SHA-256 and compared with timingSafeEqual; nonces and
 * sessions live in memory.
 */
export class NodePairing {
  /** Owner-facing events (requested, approved, rejected, expired, revoked, renamed). */
  readonly events = new EventHub<NodeEvent>();
  /** Per-node events for WatchNode streams. */
  readonly nodeEvents = new EventHub<NodeScopedEvent>();

  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #identity: GatewayIdentity;
  readonly #name: string;
  readonly #version: string;
  readonly #maxPending: number;
  readonly #ttlMs: number;
  readonly #autoApproveLoopback: boolean;
  readonly #mutex = new KeyedMutex();
  readonly #challenges: NodeChallenges;
  readonly #sessions: NodeSessions;
  readonly #requestUpdates = new EventHub<RequestUpdate>();
  readonly #resolved = new Map<string, RequestUpdate & { atMs: number }>();
  readonly #keys = new Map<string, KeyObject>();
  readonly #lastSeen = new Map<string, number>();

  constructor(options: NodePairingOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#identity = options.identity;
    this.#name = options.gatewayName;
    this.#version = options.version;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_NODES;
    this.#ttlMs = options.pendingTtlMs ?? NODE_PENDING_TTL_MS;
    this.#autoApproveLoopback = options.autoApproveLoopback ?? false;
    this.#challenges = new NodeChallenges(options.clock, options.challenges);
    this.#sessions = new NodeSessions(options.clock);
  }

  /** The gateway's identity, name and version. */
  gatewayInfo(): GatewayInfo {
    return {
      gatewayId: this.#identity.gatewayId,
      name: this.#name,
      version: this.#version,
      publicKey: this.#identity.publicKey,
      protocolVersion: SIGNED_PAYLOAD_VERSION,
    };
  }

  /** Issues a nonce for `nodeId`. Throws InvalidArgumentError for a malformed id, ResourceExhaustedError. */
  createChallenge(nodeId: string): Challenge {
    checkNodeId(nodeId);
    return this.#challenges.issue(nodeId);
  }

  /**
   * Handles RequestPairing: validates the key, consumes the nonce, verifies the PAIR_REQUEST signature,
   * then creates or refreshes the node's one pending request (auto-approving it for loopback peers when
   * configured). Throws InvalidArgumentError (nothing consumed), UnauthenticatedError,
   * ResourceExhaustedError when `maxPending` requests are pending.
   */
  async requestPairing(input: NodePairingInput, origin: RequestOrigin): Promise<NodePairingTicket> {
    const publicKey = validatePublicKey(input.publicKey);
    const fields = {
      displayName: normalizeDisplayName(input.displayName),
      platform: cleanText(input.platform, 32, "platform"),
      version: cleanText(input.version, 64, "version"),
      deviceFamily: cleanText(input.deviceFamily, 64, "device_family"),
      modelIdentifier: cleanText(input.modelIdentifier, 64, "model_identifier"),
      caps: cleanCaps(input.caps),
    };
    const nodeId = nodeIdOf(publicKey);
    this.#challenges.consume(input.nonce, nodeId);
    const body = pairRequestBody({ ...input, publicKey });
    this.#verify(this.#key(nodeId, publicKey), SignPurpose.pairRequest, nodeId, input.nonce, body, input.signature);

    const ticket = await this.#mutex.run(LOCK, async () => {
      const now = this.#clock.now();
      const nodes = this.#store.collection("nodes");
      const isRepair = (await nodes.get(nodeId)) !== undefined;
      const existingId = (await this.#store.collection("nodeRequestByNode").get(nodeId))?.requestId;
      const existing = existingId === undefined ? undefined : await this.#store.collection("nodeRequests").get(existingId);
      if (existing !== undefined && now < existing.expiresAtMs) {
        const refreshed: NodeRequestRecord = {
          ...existing,
          ...fields,
          remoteIp: origin.remoteIp,
          isRepair,
          refreshedAtMs: now,
          expiresAtMs: now + this.#ttlMs,
        };
        await this.#store.write(
          [
            put("nodeRequests", refreshed.requestId, refreshed),
            del("nodeRequestExpiry", expiryKey(existing)),
            put("nodeRequestExpiry", expiryKey(refreshed), { requestId: refreshed.requestId }),
          ],
          { sync: false },
        );
        this.#log.info("node pairing request refreshed", { node: nodeId, request: refreshed.requestId });
        this.#requestUpdates.emit(update(refreshed, "pending"));
        return { record: refreshed, created: false };
      }
      await this.#expireDue(now);
      let pending = 0;
      for await (const _ of this.#store.collection("nodeRequests").entries({})) pending++;
      if (pending >= this.#maxPending) {
        this.#log.warn("node pairing queue full: request refused", { node: nodeId, pending, limit: this.#maxPending });
        throw new ResourceExhaustedError(`too many pending node pairing requests (${pending}); try again later`);
      }
      const record: NodeRequestRecord = {
        requestId: randomBytes(16).toString("hex"),
        nodeId,
        publicKey: publicKey.toString("base64url"),
        ...fields,
        remoteIp: origin.remoteIp,
        isRepair,
        createdAtMs: now,
        refreshedAtMs: now,
        expiresAtMs: now + this.#ttlMs,
      };
      await this.#store.write(
        [
          put("nodeRequests", record.requestId, record),
          put("nodeRequestByNode", nodeId, { requestId: record.requestId }),
          put("nodeRequestExpiry", expiryKey(record), { requestId: record.requestId }),
        ],
        { sync: false },
      );
      this.#log.info("node pairing requested", { node: nodeId, request: record.requestId, repair: isRepair });
      this.events.emit(nodeEvent("requested", record, now));
      return { record, created: true };
    });

    const { record } = ticket;
    if (this.#autoApproveLoopback && origin.loopback) {
      await this.approve(record.requestId, "auto-loopback");
      return { requestId: record.requestId, nodeId, status: "approved", expiresAtMs: 0, isRepair: record.isRepair };
    }
    return { requestId: record.requestId, nodeId, status: "pending", expiresAtMs: record.expiresAtMs, isRepair: record.isRepair };
  }

  /**
   * Follows one request: `deliver` gets its current status at once, then each change. Returns the
   * function that stops delivery. Throws NotFoundError when the request is unknown for `nodeId`.
   */
  async followRequest(requestId: string, nodeId: string, deliver: (u: RequestUpdate) => void): Promise<() => void> {
    const buffered: RequestUpdate[] = [];
    let live = false;
    const unsubscribe = this.#requestUpdates.subscribe((u) => {
      if (u.requestId !== requestId || u.nodeId !== nodeId) return;
      if (live) deliver(u);
      else buffered.push(u);
    });
    try {
      deliver(await this.#requestStatus(requestId, nodeId));
    } catch (err) {
      unsubscribe();
      throw err;
    }
    live = true;
    for (const u of buffered) deliver(u);
    return unsubscribe;
  }

  /**
   * ClaimToken: consumes the nonce, verifies the CLAIM signature with the paired key and, if the token
   * was never claimed, mints it (synced). Returns the token once. Throws UnauthenticatedError for any
   * failure, including a second claim.
   */
  async claimToken(nodeId: string, nonce: Uint8Array, signature: Uint8Array): Promise<{ token: string; displayName: string }> {
    checkNodeId(nodeId);
    this.#challenges.consume(nonce, nodeId);
    const node = this.#pairedOrFail(nodeId);
    this.#verify(this.#keyOf(node), SignPurpose.claim, nodeId, nonce, Buffer.alloc(0), signature);
    return this.#mutex.run(LOCK, async () => {
      const current = await this.#store.collection("nodes").get(nodeId);
      if (current === undefined || current.publicKey !== node.publicKey) throw new UnauthenticatedError("node not paired");
      if (current.tokenHash !== "") throw new UnauthenticatedError("token already claimed");
      const token = newNodeToken();
      const now = this.#clock.now();
      await this.#store.write([put("nodes", nodeId, { ...current, tokenHash: sha256Hex(token), tokenIssuedAtMs: now })], {
        sync: true,
      });
      this.#log.info("node token claimed", { node: nodeId });
      return { token, displayName: current.displayName };
    });
  }

  /**
   * Authenticate: consumes the nonce, verifies the CONNECT signature (body = SHA-256 of the token) with
   * the paired key, compares the token's SHA-256 with the stored one in constant time, and opens a
   * 15-minute session. Runs synchronously after the nonce check, so it never interleaves with a
   * revocation. Throws UnauthenticatedError.
   */
  authenticate(
    nodeId: string,
    nonce: Uint8Array,
    signature: Uint8Array,
    token: string,
  ): { sessionToken: string; expiresAtMs: number; displayName: string } {
    checkNodeId(nodeId);
    this.#challenges.consume(nonce, nodeId);
    const node = this.#pairedOrFail(nodeId);
    this.#verify(this.#keyOf(node), SignPurpose.connect, nodeId, nonce, digestBody(token), signature);
    if (node.tokenHash === "") throw new UnauthenticatedError("token not claimed yet");
    if (!timingSafeEqual(createHash("sha256").update(token, "utf8").digest(), Buffer.from(node.tokenHash, "hex"))) {
      throw new UnauthenticatedError("token mismatch");
    }
    const session = this.#sessions.issue(nodeId);
    this.#lastSeen.set(nodeId, this.#clock.now());
    this.#log.info("node authenticated", { node: nodeId });
    return { sessionToken: session.token, expiresAtMs: session.expiresAtMs, displayName: node.displayName };
  }

  /** Heartbeat: checks the session. Throws UnauthenticatedError. */
  heartbeat(sessionToken: string): { serverTimeMs: number; sessionExpiresAtMs: number } {
    const session = this.#sessions.check(sessionToken);
    const now = this.#clock.now();
    this.#lastSeen.set(session.nodeId, now);
    return { serverTimeMs: now, sessionExpiresAtMs: session.expiresAtMs };
  }

  /**
   * RotateToken: checks the session, consumes the nonce, verifies the ROTATE signature (body = SHA-256
   * of the session token) and replaces the token hash in one synced write. Returns the new token once.
   * Throws UnauthenticatedError.
   */
  async rotateToken(sessionToken: string, nonce: Uint8Array, signature: Uint8Array): Promise<{ token: string }> {
    const { nodeId } = this.#sessions.check(sessionToken);
    this.#challenges.consume(nonce, nodeId);
    const node = this.#pairedOrFail(nodeId);
    this.#verify(this.#keyOf(node), SignPurpose.rotate, nodeId, nonce, digestBody(sessionToken), signature);
    const result = await this.#mutex.run(LOCK, async () => {
      const current = await this.#store.collection("nodes").get(nodeId);
      if (current === undefined || current.tokenHash === "") throw new UnauthenticatedError("node not paired or token unclaimed");
      const token = newNodeToken();
      const now = this.#clock.now();
      await this.#store.write([put("nodes", nodeId, { ...current, tokenHash: sha256Hex(token), tokenIssuedAtMs: now })], {
        sync: true,
      });
      return { token, displayName: current.displayName, now };
    });
    this.#log.info("node token rotated", { node: nodeId });
    this.nodeEvents.emit({ type: "token-rotated", nodeId, displayName: result.displayName, atMs: result.now });
    return { token: result.token };
  }

  /**
   * Opens a WatchNode subscription for the session's node: `deliver` gets renamed / token-rotated /
   * revoked events; `ended` rejects with UnauthenticatedError when the node is revoked or re-paired or
   * the session expires. Throws UnauthenticatedError for a bad session.
   */
  watchNode(sessionToken: string, deliver: (e: NodeScopedEvent) => void): NodeWatch {
    const session = this.#sessions.check(sessionToken);
    let fail!: (err: Error) => void;
    const ended = new Promise<void>((_, reject) => (fail = reject));
    ended.catch(() => undefined);
    const unsubscribe = this.nodeEvents.subscribe((e) => {
      if (e.nodeId !== session.nodeId) return;
      deliver(e);
      if (e.type === "revoked" || e.type === "repaired") fail(new UnauthenticatedError(`node ${e.type}`));
    });
    const timer = setTimeout(
      () => fail(new UnauthenticatedError("session expired")),
      Math.max(0, session.expiresAtMs - this.#clock.now()),
    );
    timer.unref();
    return {
      ended,
      close: () => {
        unsubscribe();
        clearTimeout(timer);
      },
    };
  }

  /** Lists live pending requests, oldest first, optionally by request id prefix. Throws InvalidArgumentError. */
  async listPending(page: PageRequest, requestIdPrefix = ""): Promise<Page<PendingNodeView>> {
    checkHexPrefix(requestIdPrefix, 32, "request_id_prefix");
    const size = effectivePageSize(page.pageSize);
    const skip = page.pageToken === "" ? 0 : decodePageToken(page.pageToken, isOffsetCursor).offset;
    const now = this.#clock.now();
    const all: PendingNodeView[] = [];
    for await (const [, r] of this.#store.collection("nodeRequests").entries(prefixRange(requestIdPrefix))) {
      if (now < r.expiresAtMs) all.push(r);
    }
    all.sort((a, b) => a.createdAtMs - b.createdAtMs || a.requestId.localeCompare(b.requestId));
    const items = all.slice(skip, skip + size);
    return { items, nextPageToken: skip + size < all.length ? encodePageToken({ offset: skip + size }) : "" };
  }

  /**
   * Approves a pending request: removes it and writes the paired node (token unclaimed) in one synced
   * write; a repair ends the node's sessions. Throws NotFoundError, FailedPreconditionError when it
   * was already resolved, InvalidArgumentError for a malformed id.
   */
  async approve(requestId: string, via: ApprovedVia = "owner"): Promise<PairedNodeView> {
    checkRequestId(requestId);
    const { record, node, repaired, now } = await this.#mutex.run(LOCK, async () => {
      const r = await this.#livePendingOrFail(requestId);
      const now = this.#clock.now();
      const previous = await this.#store.collection("nodes").get(r.nodeId);
      const node: NodeRecord = {
        nodeId: r.nodeId,
        publicKey: r.publicKey,
        ...deviceInfoOf(r),
        remoteIp: r.remoteIp,
        pairedAtMs: previous?.pairedAtMs ?? now,
        approvedAtMs: now,
        approvedVia: via,
        requestId: r.requestId,
        tokenHash: "",
        tokenIssuedAtMs: 0,
      };
      await this.#store.write([...removeRequestOps(r), put("nodes", r.nodeId, node)], { sync: true });
      return { record: r, node, repaired: previous !== undefined, now };
    });
    if (repaired) {
      this.#sessions.endNode(node.nodeId);
      this.nodeEvents.emit({ type: "repaired", nodeId: node.nodeId, displayName: node.displayName, atMs: now });
    }
    this.#log.info("node pairing approved", { node: node.nodeId, request: requestId, via, repair: repaired });
    this.#resolve(record, "approved", now);
    this.events.emit(nodeEvent("approved", record, now));
    return this.#view(node);
  }

  /** Rejects a pending request (synced). Throws NotFoundError, FailedPreconditionError, InvalidArgumentError. */
  async reject(requestId: string): Promise<PendingNodeView> {
    checkRequestId(requestId);
    const { record, now } = await this.#mutex.run(LOCK, async () => {
      const r = await this.#livePendingOrFail(requestId);
      await this.#store.write(removeRequestOps(r), { sync: true });
      return { record: r, now: this.#clock.now() };
    });
    this.#log.info("node pairing rejected", { node: record.nodeId, request: requestId });
    this.#resolve(record, "rejected", now);
    this.events.emit(nodeEvent("rejected", record, now));
    return record;
  }

  /** Lists paired nodes in node id order, optionally by id prefix. Throws InvalidArgumentError. */
  async listNodes(page: PageRequest, nodeIdPrefix = ""): Promise<Page<PairedNodeView>> {
    checkHexPrefix(nodeIdPrefix, 64, "node_id_prefix");
    const size = effectivePageSize(page.pageSize);
    const after = page.pageToken === "" ? undefined : decodePageToken(page.pageToken, isAfterCursor).after;
    const range = prefixRange(nodeIdPrefix);
    const items: PairedNodeView[] = [];
    let more = false;
    const iterRange = after === undefined ? { ...range, limit: size + 1 } : { gt: after, lt: range.lt, limit: size + 1 };
    for await (const [, n] of this.#store.collection("nodes").entries(iterRange)) {
      if (items.length === size) {
        more = true;
        break;
      }
      items.push(this.#view(n));
    }
    const last = items[items.length - 1];
    return { items, nextPageToken: more && last !== undefined ? encodePageToken({ after: last.nodeId }) : "" };
  }

  /** Renames a paired node. Throws NotFoundError, InvalidArgumentError. */
  async rename(nodeId: string, rawName: string): Promise<PairedNodeView> {
    checkNodeId(nodeId);
    const displayName = normalizeDisplayName(rawName);
    const { node, now } = await this.#mutex.run(LOCK, async () => {
      const current = await this.#store.collection("nodes").get(nodeId);
      if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
      const node = { ...current, displayName };
      await this.#store.write([put("nodes", nodeId, node)], { sync: true });
      return { node, now: this.#clock.now() };
    });
    this.#log.info("node renamed", { node: nodeId });
    this.nodeEvents.emit({ type: "renamed", nodeId, displayName, atMs: now });
    this.events.emit({ ...nodeEvent("renamed", node, now), requestId: "" });
    return this.#view(node);
  }

  /**
   * Revokes (unpairs) a node in one synced write, then ends its sessions and streams. After this
   * returns, Authenticate for the node fails. Throws NotFoundError, InvalidArgumentError.
   */
  async revoke(nodeId: string): Promise<PairedNodeView> {
    checkNodeId(nodeId);
    const { node, now } = await this.#mutex.run(LOCK, async () => {
      const current = await this.#store.collection("nodes").get(nodeId);
      if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
      await this.#store.write([del("nodes", nodeId)], { sync: true });
      return { node: current, now: this.#clock.now() };
    });
    const view = this.#view(node);
    this.#sessions.endNode(nodeId);
    this.#keys.delete(nodeId);
    this.#lastSeen.delete(nodeId);
    this.#log.info("node revoked", { node: nodeId });
    this.nodeEvents.emit({ type: "revoked", nodeId, displayName: node.displayName, atMs: now });
    this.events.emit({ ...nodeEvent("revoked", node, now), requestId: "" });
    return view;
  }

  /**
   * Removes pending requests past their TTL (emitting "expired" for each), drops expired nonces and
   * sessions. Returns how many requests expired. The daemon calls this periodically.
   */
  async sweepExpired(): Promise<number> {
    this.#challenges.prune();
    this.#sessions.prune();
    return this.#mutex.run(LOCK, () => this.#expireDue(this.#clock.now()));
  }

  /** Expires every request due at `now`; the caller holds the lock. */
  async #expireDue(now: number): Promise<number> {
    const due: string[] = [];
    for await (const [, e] of this.#store.collection("nodeRequestExpiry").entries({ lt: ms16(now + 1) })) due.push(e.requestId);
    let n = 0;
    for (const requestId of due) {
      const r = await this.#store.collection("nodeRequests").get(requestId);
      if (r === undefined || now < r.expiresAtMs) continue;
      await this.#store.write(removeRequestOps(r), { sync: false });
      this.#log.info("node pairing request expired", { node: r.nodeId, request: requestId });
      this.#resolve(r, "expired", now);
      this.events.emit(nodeEvent("expired", r, now));
      n++;
    }
    return n;
  }

  async #livePendingOrFail(requestId: string): Promise<NodeRequestRecord> {
    const r = await this.#store.collection("nodeRequests").get(requestId);
    if (r === undefined) {
      const resolved = this.#resolved.get(requestId);
      if (resolved !== undefined && resolved.status !== "expired") {
        throw new FailedPreconditionError(`node pairing request ${requestId} was already ${resolved.status}`);
      }
      throw new NotFoundError(`no pending node pairing request ${requestId}`);
    }
    const now = this.#clock.now();
    if (now >= r.expiresAtMs) {
      await this.#expireDue(now);
      throw new NotFoundError(`no pending node pairing request ${requestId} (it expired)`);
    }
    return r;
  }

  async #requestStatus(requestId: string, nodeId: string): Promise<RequestUpdate> {
    const r = await this.#store.collection("nodeRequests").get(requestId);
    if (r !== undefined && r.nodeId === nodeId) {
      return this.#clock.now() < r.expiresAtMs ? update(r, "pending") : { requestId, nodeId, status: "expired", expiresAtMs: 0 };
    }
    const resolved = this.#resolved.get(requestId);
    if (resolved !== undefined && resolved.nodeId === nodeId) {
      return { requestId, nodeId, status: resolved.status, expiresAtMs: 0 };
    }
    const node = await this.#store.collection("nodes").get(nodeId);
    if (node !== undefined && node.requestId === requestId) return { requestId, nodeId, status: "approved", expiresAtMs: 0 };
    throw new NotFoundError(`no node pairing request ${requestId} for this node`);
  }

  #resolve(r: NodeRequestRecord, status: NodePairingStatus, now: number): void {
    for (const [id, e] of this.#resolved) {
      if (this.#resolved.size < MAX_RESOLVED_MEMORY && now - e.atMs < RESOLVED_MEMORY_MS) break;
      this.#resolved.delete(id);
    }
    const u: RequestUpdate = { requestId: r.requestId, nodeId: r.nodeId, status, expiresAtMs: 0 };
    this.#resolved.set(r.requestId, { ...u, atMs: now });
    this.#requestUpdates.emit(u);
  }

  #pairedOrFail(nodeId: string): NodeRecord {
    const node = this.#store.collection("nodes").getSync(nodeId);
    if (node === undefined) throw new UnauthenticatedError("node not paired");
    return node;
  }

  #keyOf(node: NodeRecord): KeyObject {
    return this.#key(node.nodeId, Buffer.from(node.publicKey, "base64url"));
  }

  /** The cached KeyObject of a node (node id = SHA-256 of the key, so the id names the key). */
  #key(nodeId: string, publicKey: Buffer): KeyObject {
    let key = this.#keys.get(nodeId);
    if (key === undefined) {
      // Evict the oldest entry (Map keeps insertion order) rather than dropping the whole cache.
      if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.delete(this.#keys.keys().next().value as string);
      key = publicKeyObject(publicKey);
      this.#keys.set(nodeId, key);
    }
    return key;
  }

  #verify(key: KeyObject, purpose: SignPurposeValue, nodeId: string, nonce: Uint8Array, body: Uint8Array, signature: Uint8Array): void {
    const payload = buildSignedPayload({ purpose, gatewayId: this.#identity.gatewayId, nodeId, nonce, body });
    if (!verifyEd25519(key, payload, signature)) throw new UnauthenticatedError(`bad signature (purpose ${purpose})`);
  }

  #view(n: NodeRecord): PairedNodeView {
    return {
      nodeId: n.nodeId,
      publicKey: Buffer.from(n.publicKey, "base64url"),
      ...deviceInfoOf(n),
      remoteIp: n.remoteIp,
      pairedAtMs: n.pairedAtMs,
      approvedAtMs: n.approvedAtMs,
      approvedVia: n.approvedVia,
      tokenState: n.tokenHash === "" ? "awaiting-claim" : "active",
      tokenIssuedAtMs: n.tokenIssuedAtMs,
      lastSeenAtMs: this.#lastSeen.get(n.nodeId) ?? 0,
      activeSessions: this.#sessions.count(n.nodeId),
    };
  }
}

function newNodeToken(): string {
  return NODE_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

function sha256Hex(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}

/** Node ids are 64 lowercase hex characters. Throws InvalidArgumentError. */
export function checkNodeId(nodeId: string, field = "node_id"): void {
  if (!/^[0-9a-f]{64}$/.test(nodeId)) throw new InvalidArgumentError(`${field} must be 64 lowercase hex characters`, field);
}

function checkRequestId(requestId: string): void {
  if (!/^[0-9a-f]{32}$/.test(requestId)) {
    throw new InvalidArgumentError("request_id must be 32 lowercase hex characters", "request_id");
  }
}

function checkHexPrefix(prefix: string, max: number, field: string): void {
  if (prefix.length > max || !/^[0-9a-f]*$/.test(prefix)) {
    throw new InvalidArgumentError(`${field} must be at most ${max} lowercase hex characters`, field);
  }
}

function cleanText(raw: string, max: number, field: string): string {
  const s = raw.trim();
  if ([...s].length > max) throw new InvalidArgumentError(`${field} must be at most ${max} characters`, field);
  if (/[\p{Cc}\p{Cf}]/u.test(s)) throw new InvalidArgumentError(`${field} must not contain control characters`, field);
  return s;
}

function cleanCaps(caps: readonly string[]): string[] {
  if (caps.length > 32) throw new InvalidArgumentError("caps has more than 32 entries", "caps");
  return caps.map((c, i) => {
    const s = cleanText(c, 64, `caps[${i}]`);
    if (s === "") throw new InvalidArgumentError(`caps[${i}] must not be empty`, `caps[${i}]`);
    return s;
  });
}

function prefixRange(prefix: string): { gte: string; lt: string } {
  // Ids are lowercase hex, so "\u00ff" sorts after every key that starts with `prefix`.
  return { gte: prefix, lt: prefix + "\u00ff" };
}

function ms16(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(16, "0");
}

function expiryKey(r: NodeRequestRecord): string {
  return ms16(r.expiresAtMs) + KEY_SEP + r.requestId;
}

function removeRequestOps(r: NodeRequestRecord): WriteOp[] {
  return [del("nodeRequests", r.requestId), del("nodeRequestByNode", r.nodeId), del("nodeRequestExpiry", expiryKey(r))];
}

function update(r: NodeRequestRecord, status: NodePairingStatus): RequestUpdate {
  return { requestId: r.requestId, nodeId: r.nodeId, status, expiresAtMs: status === "pending" ? r.expiresAtMs : 0 };
}

function nodeEvent(type: NodeEvent["type"], r: NodeRequestRecord | NodeRecord, atMs: number): NodeEvent {
  return {
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

function isOffsetCursor(v: unknown): v is { offset: number } {
  return typeof v === "object" && v !== null && Number.isInteger((v as { offset?: unknown }).offset) && (v as { offset: number }).offset >= 0;
}

function isAfterCursor(v: unknown): v is { after: string } {
  return typeof v === "object" && v !== null && typeof (v as { after?: unknown }).after === "string" && /^[0-9a-f]{64}$/.test((v as { after: string }).after);
}
