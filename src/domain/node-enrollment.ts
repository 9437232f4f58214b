import { randomBytes } from "node:crypto";
import type { AuditRole } from "./audit-log";
import { nodeIdOf, validatePublicKey } from "./ed25519-key";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "./errors";
import { NODE_LOCK, type NodeContext, nodeEvent } from "./node-context";
import { checkHexPrefix, checkRequestId, cleanCaps, cleanText, normalizeDisplayName, prefixRange } from "./node-input";
import { type ApprovedVia, deviceInfoOf, type NodeDeviceInfo, type NodeRecord, type NodeRequestRecord } from "./node-records";
import type {
  NodePairingInput,
  NodePairingStatus,
  NodePairingTicket,
  PairedNodeView,
  PendingNodeView,
  RequestOrigin,
  RequestUpdate,
} from "./node-types";
import { decodePageToken, effectivePageSize, encodePageToken, isOffsetCursor, type Page, type PageRequest } from "./paging";
import { peerNetworkOf } from "./peer-network";
import { pairRequestBody, SignPurpose } from "./signed-payload";
import { del, KEY_SEP, ms16, put, type WriteOp } from "./store";

/** How long AwaitPairing still answers for a resolved (approved/rejected/expired) request. */
const RESOLVED_MEMORY_MS = 10 * 60_000;
const MAX_RESOLVED_MEMORY = 4096;

/**
 * Handles RequestPairing: validates the key, consumes the nonce, verifies the PAIR_REQUEST signature,
 * then creates or refreshes the node's one pending request (auto-approving it for loopback peers when
 * configured). Throws InvalidArgumentError (nothing consumed), UnauthenticatedError,
 * ResourceExhaustedError when the requester's address holds `maxPendingPerPeer` requests or the
 * queue is full and no busier address can yield (see makeRoom).
 */
export async function requestPairing(ctx: NodeContext, input: NodePairingInput, origin: RequestOrigin): Promise<NodePairingTicket> {
  if ((input.inviteId ?? "") !== "" || (input.inviteProof?.length ?? 0) !== 0) {
    throw new InvalidArgumentError("invite_id and invite_proof need a pairing by invite", "invite_id");
  }
  const { publicKey, fields, nodeId } = checkPairingInput(input);
  ctx.challenges.consume(input.nonce, nodeId);
  const body = pairRequestBody({ ...input, publicKey });
  ctx.verify(ctx.key(nodeId, publicKey), SignPurpose.pairRequest, nodeId, input.nonce, body, input.signature);

  const { record } = await ctx.mutex.run(NODE_LOCK, async () => {
    const now = ctx.clock.now();
    const nodes = ctx.store.collection("nodes");
    const isRepair = (await nodes.get(nodeId)) !== undefined;
    const existingId = (await ctx.store.collection("nodeRequestByNode").get(nodeId))?.requestId;
    const existing = existingId === undefined ? undefined : await ctx.store.collection("nodeRequests").get(existingId);
    if (existing !== undefined && now < existing.expiresAtMs) {
      const refreshed: NodeRequestRecord = {
        ...existing,
        ...fields,
        remoteIp: origin.remoteIp,
        isRepair,
        refreshedAtMs: now,
        expiresAtMs: now + ctx.ttlMs,
      };
      await ctx.store.write(
        [
          put("nodeRequests", refreshed.requestId, refreshed),
          del("nodeRequestExpiry", expiryKey(existing)),
          put("nodeRequestExpiry", expiryKey(refreshed), { requestId: refreshed.requestId }),
        ],
        { sync: false },
      );
      ctx.log.info("node pairing request refreshed", { node: nodeId, request: refreshed.requestId });
      ctx.requestUpdates.emit(update(refreshed, "pending"));
      return { record: refreshed, created: false };
    }
    await expireDue(ctx, now);
    await makeRoom(ctx, origin.remoteIp, nodeId, now);
    const record: NodeRequestRecord = {
      requestId: randomBytes(16).toString("hex"),
      nodeId,
      publicKey: publicKey.toString("base64url"),
      ...fields,
      remoteIp: origin.remoteIp,
      isRepair,
      createdAtMs: now,
      refreshedAtMs: now,
      expiresAtMs: now + ctx.ttlMs,
    };
    await ctx.store.write(
      [
        put("nodeRequests", record.requestId, record),
        put("nodeRequestByNode", nodeId, { requestId: record.requestId }),
        put("nodeRequestExpiry", expiryKey(record), { requestId: record.requestId }),
      ],
      { sync: false },
    );
    ctx.log.info("node pairing requested", { node: nodeId, request: record.requestId, repair: isRepair });
    ctx.events.emit(nodeEvent("requested", record, now));
    return { record, created: true };
  });

  if (ctx.autoApproveLoopback && origin.loopback) {
    await approve(ctx, record.requestId, "auto-loopback");
    return { requestId: record.requestId, nodeId, status: "approved", expiresAtMs: 0, isRepair: record.isRepair };
  }
  return { requestId: record.requestId, nodeId, status: "pending", expiresAtMs: record.expiresAtMs, isRepair: record.isRepair };
}

/**
 * Validates what every RequestPairing carries (key, text fields) and derives the node id; consumes
 * nothing. Throws InvalidArgumentError naming the field.
 */
export function checkPairingInput(input: NodePairingInput): { publicKey: Buffer; fields: NodeDeviceInfo; nodeId: string } {
  const publicKey = validatePublicKey(input.publicKey);
  const fields = {
    displayName: normalizeDisplayName(input.displayName),
    platform: cleanText(input.platform, 32, "platform"),
    version: cleanText(input.version, 64, "version"),
    deviceFamily: cleanText(input.deviceFamily, 64, "device_family"),
    modelIdentifier: cleanText(input.modelIdentifier, 64, "model_identifier"),
    caps: cleanCaps(input.caps),
  };
  return { publicKey, fields, nodeId: nodeIdOf(publicKey) };
}

/**
 * Follows one request: `deliver` gets its current status at once, then each change. Returns the
 * function that stops delivery. Throws NotFoundError when the request is unknown for `nodeId`.
 */
export async function followRequest(
  ctx: NodeContext,
  requestId: string,
  nodeId: string,
  deliver: (u: RequestUpdate) => void,
): Promise<() => void> {
  const buffered: RequestUpdate[] = [];
  let live = false;
  const unsubscribe = ctx.requestUpdates.subscribe((u) => {
    if (u.requestId !== requestId || u.nodeId !== nodeId) return;
    if (live) deliver(u);
    else buffered.push(u);
  });
  try {
    deliver(await requestStatus(ctx, requestId, nodeId));
  } catch (err) {
    unsubscribe();
    throw err;
  }
  live = true;
  for (const u of buffered) deliver(u);
  return unsubscribe;
}

/** Lists live pending requests, oldest first, optionally by request id prefix. Throws InvalidArgumentError. */
export async function listPending(ctx: NodeContext, page: PageRequest, requestIdPrefix = ""): Promise<Page<PendingNodeView>> {
  checkHexPrefix(requestIdPrefix, 32, "request_id_prefix");
  const size = effectivePageSize(page.pageSize);
  const skip = page.pageToken === "" ? 0 : decodePageToken(page.pageToken, isOffsetCursor).offset;
  const now = ctx.clock.now();
  const all: PendingNodeView[] = [];
  for await (const [, r] of ctx.store.collection("nodeRequests").entries(prefixRange(requestIdPrefix))) {
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
export async function approve(
  ctx: NodeContext,
  requestId: string,
  via: ApprovedVia = "owner",
  role: AuditRole = via === "owner" ? "owner" : "node",
): Promise<PairedNodeView> {
  checkRequestId(requestId);
  const { record, node, repaired, now } = await ctx.mutex.run(NODE_LOCK, async () => {
    const r = await livePendingOrFail(ctx, requestId);
    const now = ctx.clock.now();
    const previous = await ctx.store.collection("nodes").get(r.nodeId);
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
    const audit = ctx.audit.op({ action: "node.approve", role, subjectId: r.nodeId, requestId: r.requestId, via, detail: previous === undefined ? "" : "repair" });
    await ctx.store.write([...removeRequestOps(r), put("nodes", r.nodeId, node), audit], { sync: true });
    return { record: r, node, repaired: previous !== undefined, now };
  });
  if (repaired) {
    ctx.sessions.endNode(node.nodeId);
    ctx.nodeEvents.emit({ type: "repaired", nodeId: node.nodeId, displayName: node.displayName, atMs: now });
  }
  ctx.log.info("node pairing approved", { node: node.nodeId, request: requestId, via, repair: repaired });
  resolveRequest(ctx, record, "approved");
  ctx.events.emit(nodeEvent("approved", record, now, { approvedVia: via, inviteId: "" }));
  return ctx.view(node);
}

/** Rejects a pending request (synced). Throws NotFoundError, FailedPreconditionError, InvalidArgumentError. */
export async function reject(ctx: NodeContext, requestId: string, role: AuditRole = "owner"): Promise<PendingNodeView> {
  checkRequestId(requestId);
  const { record, now } = await ctx.mutex.run(NODE_LOCK, async () => {
    const r = await livePendingOrFail(ctx, requestId);
    const audit = ctx.audit.op({ action: "node.reject", role, subjectId: r.nodeId, requestId: r.requestId });
    await ctx.store.write([...removeRequestOps(r), audit], { sync: true });
    return { record: r, now: ctx.clock.now() };
  });
  ctx.log.info("node pairing rejected", { node: record.nodeId, request: requestId });
  resolveRequest(ctx, record, "rejected");
  ctx.events.emit(nodeEvent("rejected", record, now));
  return record;
}

/** Expires every request due at `now` (emitting "expired"); returns how many. The caller holds the lock. */
export async function expireDue(ctx: NodeContext, now: number): Promise<number> {
  const due: string[] = [];
  for await (const [, e] of ctx.store.collection("nodeRequestExpiry").entries({ lt: ms16(now + 1) })) due.push(e.requestId);
  let n = 0;
  for (const requestId of due) {
    const r = await ctx.store.collection("nodeRequests").get(requestId);
    if (r === undefined || now < r.expiresAtMs) continue;
    const audit = ctx.audit.op({ action: "node.expire", role: "daemon", subjectId: r.nodeId, requestId });
    await ctx.store.write([...removeRequestOps(r), audit], { sync: false });
    ctx.log.info("node pairing request expired", { node: r.nodeId, request: requestId });
    resolveRequest(ctx, r, "expired");
    ctx.events.emit(nodeEvent("expired", r, now));
    n++;
  }
  return n;
}

/**
 * Makes room for one more request from `remoteIp` (the caller holds the lock; due requests are already
 * expired). A peer network over its quota is refused until its oldest request expires. A full queue
 * makes the busiest peer network yield its oldest request (it ends as EXPIRED for its AwaitPairing),
 * if it holds at least two more than the requester; otherwise the request is refused. Throws
 * ResourceExhaustedError with `retryAfterMs`.
 */
async function makeRoom(ctx: NodeContext, remoteIp: string, nodeId: string, now: number): Promise<void> {
  const peer = peerNetworkOf(remoteIp);
  const byPeer = new Map<string, NodeRequestRecord[]>();
  let pending = 0;
  for await (const [, r] of ctx.store.collection("nodeRequests").entries({})) {
    const key = peerNetworkOf(r.remoteIp);
    byPeer.set(key, [...(byPeer.get(key) ?? []), r]);
    pending++;
  }
  const oldestFirst = (rs: NodeRequestRecord[]): NodeRequestRecord[] => rs.sort((a, b) => a.createdAtMs - b.createdAtMs);
  const mine = oldestFirst(byPeer.get(peer) ?? []);
  if (mine.length >= ctx.maxPendingPerPeer) {
    ctx.log.warn("node pairing request refused: per-address quota used up", { node: nodeId, peer, limit: ctx.maxPendingPerPeer });
    throw new ResourceExhaustedError(`too many pending node pairing requests from this address (${mine.length}); try again later`, {
      retryAfterMs: Math.min(...mine.map((r) => r.expiresAtMs)) - now,
    });
  }
  if (pending < ctx.maxPending) return;
  let busiest: NodeRequestRecord[] = [];
  for (const rs of byPeer.values()) if (rs.length > busiest.length) busiest = rs;
  const victim = oldestFirst(busiest)[0];
  if (victim === undefined || busiest.length < mine.length + 2) {
    ctx.log.warn("node pairing queue full: request refused", { node: nodeId, pending, limit: ctx.maxPending });
    let soonest = Infinity;
    for (const rs of byPeer.values()) for (const r of rs) soonest = Math.min(soonest, r.expiresAtMs);
    throw new ResourceExhaustedError(`too many pending node pairing requests (${pending}); try again later`, {
      retryAfterMs: soonest - now,
    });
  }
  const audit = ctx.audit.op({ action: "node.expire", role: "daemon", subjectId: victim.nodeId, requestId: victim.requestId, detail: "queue full" });
  await ctx.store.write([...removeRequestOps(victim), audit], { sync: false });
  ctx.log.warn("node pairing queue full: the busiest address's oldest request yields", {
    node: victim.nodeId,
    request: victim.requestId,
    peer: peerNetworkOf(victim.remoteIp),
    held: busiest.length,
  });
  resolveRequest(ctx, victim, "expired");
  ctx.events.emit(nodeEvent("expired", victim, now));
}

async function livePendingOrFail(ctx: NodeContext, requestId: string): Promise<NodeRequestRecord> {
  const r = await ctx.store.collection("nodeRequests").get(requestId);
  if (r === undefined) {
    const resolved = ctx.resolved.get(requestId);
    if (resolved !== undefined && resolved.status !== "expired") {
      throw new FailedPreconditionError(`node pairing request ${requestId} was already ${resolved.status}`);
    }
    throw new NotFoundError(`no pending node pairing request ${requestId}`);
  }
  const now = ctx.clock.now();
  if (now >= r.expiresAtMs) {
    await expireDue(ctx, now);
    throw new NotFoundError(`no pending node pairing request ${requestId} (it expired)`);
  }
  return r;
}

async function requestStatus(ctx: NodeContext, requestId: string, nodeId: string): Promise<RequestUpdate> {
  const r = await ctx.store.collection("nodeRequests").get(requestId);
  if (r !== undefined && r.nodeId === nodeId) {
    return ctx.clock.now() < r.expiresAtMs ? update(r, "pending") : { requestId, nodeId, status: "expired", expiresAtMs: 0 };
  }
  const resolved = ctx.resolved.get(requestId);
  if (resolved !== undefined && resolved.nodeId === nodeId) {
    return { requestId, nodeId, status: resolved.status, expiresAtMs: 0 };
  }
  const node = await ctx.store.collection("nodes").get(nodeId);
  if (node !== undefined && node.requestId === requestId) return { requestId, nodeId, status: "approved", expiresAtMs: 0 };
  throw new NotFoundError(`no node pairing request ${requestId} for this node`);
}

/** Remembers a resolved request for a while and tells its AwaitPairing streams. */
export function resolveRequest(ctx: NodeContext, r: NodeRequestRecord, status: NodePairingStatus): void {
  const now = ctx.clock.monotonic();
  for (const [id, e] of ctx.resolved) {
    if (ctx.resolved.size < MAX_RESOLVED_MEMORY && now - e.atMono < RESOLVED_MEMORY_MS) break;
    ctx.resolved.delete(id);
  }
  const u: RequestUpdate = { requestId: r.requestId, nodeId: r.nodeId, status, expiresAtMs: 0 };
  ctx.resolved.set(r.requestId, { ...u, atMono: now });
  ctx.requestUpdates.emit(u);
}

function expiryKey(r: NodeRequestRecord): string {
  return ms16(r.expiresAtMs) + KEY_SEP + r.requestId;
}

/** The deletes that remove a pending request and its two index entries. */
export function removeRequestOps(r: NodeRequestRecord): WriteOp[] {
  return [del("nodeRequests", r.requestId), del("nodeRequestByNode", r.nodeId), del("nodeRequestExpiry", expiryKey(r))];
}

function update(r: NodeRequestRecord, status: NodePairingStatus): RequestUpdate {
  return { requestId: r.requestId, nodeId: r.nodeId, status, expiresAtMs: status === "pending" ? r.expiresAtMs : 0 };
}
