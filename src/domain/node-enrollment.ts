import { randomBytes } from "node:crypto";
import type { AuditRole } from "./audit-log";
import { nodeIdOf, validatePublicKey } from "./ed25519-key";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "./errors";
import { NODE_LOCK, type NodeContext, nodeEvent } from "./node-context";
import { applyOps, type StoreTx } from "./shared-store";
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
  await ctx.challenges.consume(input.nonce, nodeId);
  const body = pairRequestBody({ ...input, publicKey });
  ctx.verify(ctx.key(nodeId, publicKey), SignPurpose.pairRequest, nodeId, input.nonce, body, input.signature);

  const outcome = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const now = ctx.clock.now();
    const isRepair = (await tx.get("nodes", nodeId)) !== undefined;
    const existingId = (await tx.get("nodeRequestByNode", nodeId))?.requestId;
    const existing = existingId === undefined ? undefined : await tx.get("nodeRequests", existingId);
    if (existing !== undefined && now < existing.expiresAtMs) {
      const refreshed: NodeRequestRecord = {
        ...existing,
        ...fields,
        remoteIp: origin.remoteIp,
        isRepair,
        refreshedAtMs: now,
        expiresAtMs: now + ctx.ttlMs,
      };
      applyOps(tx, [
        put("nodeRequests", refreshed.requestId, refreshed),
        del("nodeRequestExpiry", expiryKey(existing)),
        put("nodeRequestExpiry", expiryKey(refreshed), { requestId: refreshed.requestId }),
      ]);
      ctx.publishRequest(tx, update(refreshed, "pending"));
      return { record: refreshed, created: false, expired: [] as NodeRequestRecord[], refused: undefined };
    }
    const expired = await expireDue(ctx, tx, now);
    const room = await makeRoom(ctx, tx, origin.remoteIp, nodeId, now);
    // A refusal still commits the expirations (and nothing else): it is thrown after the commit.
    if (room.refused !== undefined) return { record: undefined, created: false, expired, refused: room.refused, yielded: room.yielded };
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
    applyOps(tx, [
      put("nodeRequests", record.requestId, record),
      put("nodeRequestByNode", nodeId, { requestId: record.requestId }),
      put("nodeRequestExpiry", expiryKey(record), { requestId: record.requestId }),
    ]);
    ctx.publishEvent(tx, nodeEvent("requested", record, now));
    return { record, created: true, expired, refused: undefined, yielded: room.yielded };
  }, { durable: false });
  for (const r of outcome.expired) ctx.log.info("node pairing request expired", { node: r.nodeId, request: r.requestId });
  if ("yielded" in outcome && outcome.yielded !== undefined) {
    const { victim, held } = outcome.yielded;
    ctx.log.warn("node pairing queue full: the busiest address's oldest request yields", {
      node: victim.nodeId,
      request: victim.requestId,
      peer: peerNetworkOf(victim.remoteIp),
      held,
    });
  }
  if (outcome.refused !== undefined) throw outcome.refused;
  const record = outcome.record!;
  if (outcome.created) ctx.log.info("node pairing requested", { node: nodeId, request: record.requestId, repair: record.isRepair });
  else ctx.log.info("node pairing request refreshed", { node: nodeId, request: record.requestId });

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
  for await (const [, r] of ctx.store.entries("nodeRequests", prefixRange(requestIdPrefix))) {
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
  const outcome = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const found = await livePending(ctx, tx, requestId);
    if ("error" in found) return found;
    const r = found.record;
    const now = ctx.clock.now();
    const previous = await tx.get("nodes", r.nodeId);
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
    applyOps(tx, [...removeRequestOps(r), put("nodes", r.nodeId, node), audit]);
    const repaired = previous !== undefined;
    // A repair ends the node's sessions and streams on every daemon (see NodeContext).
    if (repaired) ctx.publishNodeEvent(tx, { type: "repaired", nodeId: node.nodeId, displayName: node.displayName, atMs: now });
    resolveRequest(ctx, tx, r, "approved");
    ctx.publishEvent(tx, nodeEvent("approved", r, now, { approvedVia: via, inviteId: "" }));
    return { node, repaired };
  });
  if ("error" in outcome) throw failed(ctx, outcome);
  const { node, repaired } = outcome;
  ctx.log.info("node pairing approved", { node: node.nodeId, request: requestId, via, repair: repaired });
  return ctx.view(node);
}

/** Rejects a pending request (synced). Throws NotFoundError, FailedPreconditionError, InvalidArgumentError. */
export async function reject(ctx: NodeContext, requestId: string, role: AuditRole = "owner"): Promise<PendingNodeView> {
  checkRequestId(requestId);
  const outcome = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const found = await livePending(ctx, tx, requestId);
    if ("error" in found) return found;
    const r = found.record;
    const audit = ctx.audit.op({ action: "node.reject", role, subjectId: r.nodeId, requestId: r.requestId });
    applyOps(tx, [...removeRequestOps(r), audit]);
    resolveRequest(ctx, tx, r, "rejected");
    ctx.publishEvent(tx, nodeEvent("rejected", r, ctx.clock.now()));
    return { record: r };
  });
  if ("error" in outcome) throw failed(ctx, outcome);
  ctx.log.info("node pairing rejected", { node: outcome.record.nodeId, request: requestId });
  return outcome.record;
}

/**
 * Expires every request due at `now` in `tx` (a NODE_LOCK transaction), publishing "expired" for each
 * with the commit; returns them (the caller logs them after the commit). With several daemons
 * sweeping, each request is expired by the one transaction that still finds it.
 */
export async function expireDue(ctx: NodeContext, tx: StoreTx, now: number): Promise<NodeRequestRecord[]> {
  const due: string[] = [];
  for await (const [, e] of tx.entries("nodeRequestExpiry", { lt: ms16(now + 1) })) due.push(e.requestId);
  const expired: NodeRequestRecord[] = [];
  for (const requestId of due) {
    const r = await tx.get("nodeRequests", requestId);
    if (r === undefined || now < r.expiresAtMs) continue;
    const audit = ctx.audit.op({ action: "node.expire", role: "daemon", subjectId: r.nodeId, requestId });
    applyOps(tx, [...removeRequestOps(r), audit]);
    resolveRequest(ctx, tx, r, "expired");
    ctx.publishEvent(tx, nodeEvent("expired", r, now));
    expired.push(r);
  }
  return expired;
}

/** Sweeps due requests in one unsynced transaction and logs them; returns how many expired. */
export async function sweepDue(ctx: NodeContext): Promise<number> {
  const expired = await ctx.store.transact(NODE_LOCK, (tx) => expireDue(ctx, tx, ctx.clock.now()), { durable: false });
  for (const r of expired) ctx.log.info("node pairing request expired", { node: r.nodeId, request: r.requestId });
  return expired.length;
}

/**
 * Makes room for one more request from `remoteIp` in `tx` (a NODE_LOCK transaction; due requests are
 * already expired). A peer network over its quota is refused until its oldest request expires. A full
 * queue makes the busiest peer network yield its oldest request (it ends as EXPIRED for its
 * AwaitPairing), if it holds at least two more than the requester; otherwise the request is refused.
 * Returns the refusal (ResourceExhaustedError with `retryAfterMs`) rather than throwing it, so the
 * caller can commit what it did before.
 */
async function makeRoom(
  ctx: NodeContext,
  tx: StoreTx,
  remoteIp: string,
  nodeId: string,
  now: number,
): Promise<{ refused?: ResourceExhaustedError; yielded?: { victim: NodeRequestRecord; held: number } }> {
  const peer = peerNetworkOf(remoteIp);
  const byPeer = new Map<string, NodeRequestRecord[]>();
  let pending = 0;
  for await (const [, r] of tx.entries("nodeRequests", {})) {
    const key = peerNetworkOf(r.remoteIp);
    byPeer.set(key, [...(byPeer.get(key) ?? []), r]);
    pending++;
  }
  const oldestFirst = (rs: NodeRequestRecord[]): NodeRequestRecord[] => rs.sort((a, b) => a.createdAtMs - b.createdAtMs);
  const mine = oldestFirst(byPeer.get(peer) ?? []);
  if (mine.length >= ctx.maxPendingPerPeer) {
    ctx.log.warn("node pairing request refused: per-address quota used up", { node: nodeId, peer, limit: ctx.maxPendingPerPeer });
    return {
      refused: new ResourceExhaustedError(`too many pending node pairing requests from this address (${mine.length}); try again later`, {
        retryAfterMs: Math.min(...mine.map((r) => r.expiresAtMs)) - now,
      }),
    };
  }
  if (pending < ctx.maxPending) return {};
  let busiest: NodeRequestRecord[] = [];
  for (const rs of byPeer.values()) if (rs.length > busiest.length) busiest = rs;
  const victim = oldestFirst(busiest)[0];
  if (victim === undefined || busiest.length < mine.length + 2) {
    ctx.log.warn("node pairing queue full: request refused", { node: nodeId, pending, limit: ctx.maxPending });
    let soonest = Infinity;
    for (const rs of byPeer.values()) for (const r of rs) soonest = Math.min(soonest, r.expiresAtMs);
    return { refused: new ResourceExhaustedError(`too many pending node pairing requests (${pending}); try again later`, { retryAfterMs: soonest - now }) };
  }
  const audit = ctx.audit.op({ action: "node.expire", role: "daemon", subjectId: victim.nodeId, requestId: victim.requestId, detail: "queue full" });
  applyOps(tx, [...removeRequestOps(victim), audit]);
  resolveRequest(ctx, tx, victim, "expired");
  ctx.publishEvent(tx, nodeEvent("expired", victim, now));
  return { yielded: { victim, held: busiest.length } };
}

/** A request that cannot be resolved: the error to throw after the commit, and what expired meanwhile. */
interface NotPending {
  error: NotFoundError | FailedPreconditionError;
  expired: NodeRequestRecord[];
}

/**
 * The live pending request `requestId`, read in `tx`, or why there is none (an expired one is
 * expired in `tx`, so the caller commits that before answering NOT_FOUND).
 */
async function livePending(ctx: NodeContext, tx: StoreTx, requestId: string): Promise<{ record: NodeRequestRecord } | NotPending> {
  const r = await tx.get("nodeRequests", requestId);
  if (r === undefined) {
    const resolved = ctx.resolved.get(requestId);
    if (resolved !== undefined && resolved.status !== "expired") {
      return { error: new FailedPreconditionError(`node pairing request ${requestId} was already ${resolved.status}`), expired: [] };
    }
    return { error: new NotFoundError(`no pending node pairing request ${requestId}`), expired: [] };
  }
  const now = ctx.clock.now();
  if (now >= r.expiresAtMs) {
    const expired = await expireDue(ctx, tx, now);
    return { error: new NotFoundError(`no pending node pairing request ${requestId} (it expired)`), expired };
  }
  return { record: r };
}

/** Logs what expired on the way to a refusal and returns the refusal to throw. */
function failed(ctx: NodeContext, outcome: NotPending): Error {
  for (const r of outcome.expired) ctx.log.info("node pairing request expired", { node: r.nodeId, request: r.requestId });
  return outcome.error;
}

async function requestStatus(ctx: NodeContext, requestId: string, nodeId: string): Promise<RequestUpdate> {
  const r = await ctx.store.get("nodeRequests", requestId);
  if (r !== undefined && r.nodeId === nodeId) {
    return ctx.clock.now() < r.expiresAtMs ? update(r, "pending") : { requestId, nodeId, status: "expired", expiresAtMs: 0 };
  }
  const resolved = ctx.resolved.get(requestId);
  if (resolved !== undefined && resolved.nodeId === nodeId) {
    return { requestId, nodeId, status: resolved.status, expiresAtMs: 0 };
  }
  const node = await ctx.store.get("nodes", nodeId);
  if (node !== undefined && node.requestId === requestId) return { requestId, nodeId, status: "approved", expiresAtMs: 0 };
  throw new NotFoundError(`no node pairing request ${requestId} for this node`);
}

/**
 * Publishes a request's resolution in `tx`: after the commit every daemon remembers it for a while
 * (AwaitPairing and approve tell "already approved" from "unknown") and tells its AwaitPairing streams.
 */
export function resolveRequest(ctx: NodeContext, tx: StoreTx, r: NodeRequestRecord, status: NodePairingStatus): void {
  ctx.publishRequest(tx, { requestId: r.requestId, nodeId: r.nodeId, status, expiresAtMs: 0 });
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
