import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { publicKeyObject, verifyEd25519 } from "./ed25519-key";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError } from "./errors";
import { NODE_LOCK, type NodeContext, nodeEvent } from "./node-context";
import { checkPairingInput, removeRequestOps, resolveRequest } from "./node-enrollment";
import { cleanText } from "./node-input";
import { type NodeDeviceInfo, type NodeInviteRecord, type NodeRecord } from "./node-records";
import type { CreatedInvite, NodeInviteView, NodePairingInput, NodePairingTicket, RequestOrigin } from "./node-types";
import { buildInviteProof, inviteKeySeed, pairInviteBody, pairRequestBody, type PairRequestFields, SignPurpose } from "./signed-payload";
import { del, put, type WriteOp } from "./store";
import { applyOps, type StoreTx } from "./shared-store";

/** Invite lifetime unless asked otherwise: 10 minutes; allowed 1 minute to 24 hours. */
export const DEFAULT_INVITE_TTL_MS = 10 * 60_000;
export const MIN_INVITE_TTL_MS = 60_000;
export const MAX_INVITE_TTL_MS = 24 * 60 * 60_000;
/** Most nodes one invite may pair. */
export const MAX_INVITE_USES = 100;
/** Invite ids: 16 lowercase hex characters (64 random bits; unique among stored invites). */
export const INVITE_ID_PATTERN = /^[0-9a-f]{16}$/;

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** What the owner asks for (zero values = defaults). */
export interface InviteRequest {
  name: string;
  ttlMs: number;
  maxUses: number;
}

/** The raw public key of the Ed25519 key whose seed is `seed`. */
function publicKeyOfSeed(seed: Buffer): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const jwk = createPublicKey(key).export({ format: "jwk" });
  return Buffer.from(jwk.x as string, "base64url");
}

/** The owner's view of an invite (no key, no secret). */
export function inviteView(r: NodeInviteRecord): NodeInviteView {
  return {
    inviteId: r.inviteId,
    name: r.name,
    createdAtMs: r.createdAtMs,
    expiresAtMs: r.expiresAtMs,
    maxUses: r.maxUses,
    uses: r.uses,
    lastUsedAtMs: r.lastUsedAtMs,
    lastNodeId: r.lastNodeId,
  };
}

/** Throws InvalidArgumentError unless `inviteId` is 16 lowercase hex characters. */
export function checkInviteId(inviteId: string, field = "invite_id"): void {
  if (!INVITE_ID_PATTERN.test(inviteId)) throw new InvalidArgumentError(`${field} must be 16 lowercase hex characters`, field);
}

/**
 * Creates an invite: 32 random bytes of setup secret, of which only the public half of the derived
 * Ed25519 key is stored (synced before returning). Returns the secret once. Throws
 * InvalidArgumentError for a bad name, ttl or uses; ResourceExhaustedError when `maxActiveInvites`
 * invites are live.
 */
export async function createInvite(ctx: NodeContext, request: InviteRequest): Promise<CreatedInvite> {
  const name = cleanText(request.name, 64, "name");
  const ttlMs = request.ttlMs === 0 ? DEFAULT_INVITE_TTL_MS : request.ttlMs;
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_INVITE_TTL_MS || ttlMs > MAX_INVITE_TTL_MS) {
    throw new InvalidArgumentError(`ttl_ms must be between ${MIN_INVITE_TTL_MS} (1 minute) and ${MAX_INVITE_TTL_MS} (24 hours)`, "ttl_ms");
  }
  const maxUses = request.maxUses === 0 ? 1 : request.maxUses;
  if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_INVITE_USES) {
    throw new InvalidArgumentError(`max_uses must be between 1 and ${MAX_INVITE_USES}`, "max_uses");
  }
  const created = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const now = ctx.clock.now();
    await sweepInvites(ctx, tx, now);
    let live = 0;
    for await (const [, r] of tx.entries("nodeInvites", {})) if (now < r.expiresAtMs) live++;
    if (live >= ctx.maxActiveInvites) {
      throw new ResourceExhaustedError(
        `too many live node invites (${live}, nodes.invites.maxActive); revoke one (pairgate nodes invites revoke <id>) or wait until one expires`,
      );
    }
    let inviteId = randomBytes(8).toString("hex");
    while ((await tx.get("nodeInvites", inviteId)) !== undefined) inviteId = randomBytes(8).toString("hex");
    const secret = randomBytes(32);
    const record: NodeInviteRecord = {
      inviteId,
      name,
      verifyKey: publicKeyOfSeed(inviteKeySeed(secret)).toString("base64url"),
      createdAtMs: now,
      expiresAtMs: now + ttlMs,
      maxUses,
      uses: 0,
      lastUsedAtMs: 0,
      lastNodeId: "",
    };
    const audit = ctx.audit.op({ action: "node.invite_create", role: "owner", subjectId: inviteId, detail: `uses ${maxUses}, ttl ${Math.round(ttlMs / 1000)} s` });
    applyOps(tx, [put("nodeInvites", inviteId, record), audit]);
    return { invite: inviteView(record), secret };
  });
  ctx.log.info("node invite created", { invite: created.invite.inviteId, expiresAtMs: created.invite.expiresAtMs, maxUses });
  return created;
}

/** The live (unexpired) invites, used-up ones included, oldest first. */
export async function listInvites(ctx: NodeContext): Promise<NodeInviteView[]> {
  const now = ctx.clock.now();
  const out: NodeInviteRecord[] = [];
  for await (const [, r] of ctx.store.entries("nodeInvites", {})) if (now < r.expiresAtMs) out.push(r);
  out.sort((a, b) => a.createdAtMs - b.createdAtMs || a.inviteId.localeCompare(b.inviteId));
  return out.map(inviteView);
}

/** Deletes a live invite (synced). Throws InvalidArgumentError for a malformed id, NotFoundError. */
export async function revokeInvite(ctx: NodeContext, inviteId: string): Promise<NodeInviteView> {
  checkInviteId(inviteId);
  const revoked = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const r = await tx.get("nodeInvites", inviteId);
    if (r === undefined || ctx.clock.now() >= r.expiresAtMs) throw new NotFoundError(`no live node invite ${inviteId}`);
    applyOps(tx, [del("nodeInvites", inviteId), ctx.audit.op({ action: "node.invite_revoke", role: "owner", subjectId: inviteId })]);
    return inviteView(r);
  });
  ctx.log.info("node invite revoked", { invite: inviteId });
  return revoked;
}

/** Deletes every invite expired at `now` in `tx`, a NODE_LOCK transaction; returns how many. */
export async function sweepInvites(_ctx: NodeContext, tx: StoreTx, now: number): Promise<number> {
  const ops: WriteOp[] = [];
  for await (const [id, r] of tx.entries("nodeInvites", {})) if (now >= r.expiresAtMs) ops.push(del("nodeInvites", id));
  applyOps(tx, ops);
  return ops.length;
}

/**
 * Handles a RequestPairing that carries an invite (docs/protocol.md §3b): validates the input
 * (nothing consumed on INVALID_ARGUMENT), consumes the nonce, verifies the node's PAIR_INVITE
 * signature, then pairs by invite (see {@link pairByInvite}). Throws InvalidArgumentError,
 * UnauthenticatedError (nonce, node signature), PermissionDeniedError (the invite).
 */
export async function requestPairingByInvite(ctx: NodeContext, input: NodePairingInput, origin: RequestOrigin): Promise<NodePairingTicket> {
  const inviteId = input.inviteId ?? "";
  const inviteProof = input.inviteProof ?? new Uint8Array();
  checkInviteId(inviteId);
  if (inviteProof.length !== 64) throw new InvalidArgumentError("invite_proof must be exactly 64 bytes", "invite_proof");
  const { publicKey, fields, nodeId } = checkPairingInput(input);
  await ctx.challenges.consume(input.nonce, nodeId);
  const sent = { ...input, publicKey };
  const body = pairInviteBody(sent, inviteId, inviteProof);
  ctx.verify(ctx.key(nodeId, publicKey), SignPurpose.pairInvite, nodeId, input.nonce, body, input.signature);
  return pairByInvite(ctx, { nodeId, publicKey, sent, fields, nonce: input.nonce, inviteId, inviteProof }, origin);
}

/** A RequestPairing that carried an invite, after its node signature (PAIR_INVITE) verified. */
interface InvitePairing {
  nodeId: string;
  publicKey: Buffer;
  /** The fields as sent (the proof covers them). */
  sent: PairRequestFields;
  /** The fields as stored (trimmed, checked). */
  fields: NodeDeviceInfo;
  nonce: Uint8Array;
  inviteId: string;
  inviteProof: Uint8Array;
}

/**
 * Pairs a node by invite: checks that the invite is live and that the proof verifies with its key,
 * then writes the paired node (token unclaimed), removes the node's pending request if it has one,
 * and counts the use, all in one synced write. Never creates a pending request. Throws
 * PermissionDeniedError (unknown or revoked invite, wrong secret, expired, used up); nothing changes.
 */
async function pairByInvite(ctx: NodeContext, p: InvitePairing, origin: RequestOrigin): Promise<NodePairingTicket> {
  const result = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const now = ctx.clock.now();
    const invite = await tx.get("nodeInvites", p.inviteId);
    if (invite === undefined) throw refuse(ctx, p, `invite ${p.inviteId} is unknown or was revoked; ask the owner for a new one (pairgate nodes invite)`);
    const message = buildInviteProof({
      gatewayId: ctx.identity.gatewayId,
      nodeId: p.nodeId,
      nonce: p.nonce,
      inviteId: p.inviteId,
      pairRequestDigest: pairRequestBody(p.sent),
    });
    if (!verifyEd25519(publicKeyObject(Buffer.from(invite.verifyKey, "base64url")), message, p.inviteProof)) {
      throw refuse(ctx, p, `the invite proof does not verify for invite ${p.inviteId} (wrong setup secret)`);
    }
    if (now >= invite.expiresAtMs) throw refuse(ctx, p, `invite ${p.inviteId} has expired; ask the owner for a new one (pairgate nodes invite)`);
    if (invite.uses >= invite.maxUses) {
      throw refuse(ctx, p, `invite ${p.inviteId} was already used (${invite.uses} of ${invite.maxUses}); ask the owner for a new one`);
    }
    const previous = await tx.get("nodes", p.nodeId);
    const pendingId = (await tx.get("nodeRequestByNode", p.nodeId))?.requestId;
    const pending = pendingId === undefined ? undefined : await tx.get("nodeRequests", pendingId);
    const node: NodeRecord = {
      nodeId: p.nodeId,
      publicKey: p.publicKey.toString("base64url"),
      ...p.fields,
      remoteIp: origin.remoteIp,
      pairedAtMs: previous?.pairedAtMs ?? now,
      approvedAtMs: now,
      approvedVia: "invite",
      inviteId: p.inviteId,
      requestId: pending?.requestId ?? randomBytes(16).toString("hex"),
      tokenHash: "",
      tokenIssuedAtMs: 0,
    };
    const used: NodeInviteRecord = { ...invite, uses: invite.uses + 1, lastUsedAtMs: now, lastNodeId: p.nodeId };
    // The approval is audited as "by invite", in the same write as the pairing and the invite's use.
    const audit = ctx.audit.op({
      action: "node.approve",
      role: "node",
      subjectId: p.nodeId,
      requestId: node.requestId,
      via: "invite",
      detail: `invite ${p.inviteId}${previous === undefined ? "" : ", repair"}`,
    });
    applyOps(tx, [...(pending === undefined ? [] : removeRequestOps(pending)), put("nodes", p.nodeId, node), put("nodeInvites", p.inviteId, used), audit]);
    const repaired = previous !== undefined;
    if (repaired) ctx.publishNodeEvent(tx, { type: "repaired", nodeId: node.nodeId, displayName: node.displayName, atMs: now });
    if (pending !== undefined) resolveRequest(ctx, tx, pending, "approved");
    ctx.publishEvent(tx, { ...nodeEvent("approved", node, now, { approvedVia: "invite", inviteId: p.inviteId }), isRepair: repaired });
    return { node, repaired, usesLeft: used.maxUses - used.uses };
  });
  const { node, repaired } = result;
  ctx.log.info("node paired by invite", { node: node.nodeId, invite: p.inviteId, repair: repaired, usesLeft: result.usesLeft });
  return { requestId: node.requestId, nodeId: node.nodeId, status: "approved", expiresAtMs: 0, isRepair: repaired };
}

function refuse(ctx: NodeContext, p: InvitePairing, message: string): PermissionDeniedError {
  ctx.log.info("node pairing by invite refused", { node: p.nodeId, invite: p.inviteId, reason: message });
  return new PermissionDeniedError(message);
}
