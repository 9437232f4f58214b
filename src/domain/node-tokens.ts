import { UnauthenticatedError } from "./errors";
import { NODE_LOCK, newNodeToken, type NodeContext, sha256Hex } from "./node-context";
import { checkNodeId } from "./node-input";
import { PREVIOUS_TOKEN_GRACE_MS, type NodeRecord, tokenUsed } from "./node-records";
import { digestBody, SignPurpose } from "./signed-payload";
import { put } from "./store";
import { applyOps } from "./shared-store";

/**
 * ClaimToken: consumes the nonce, verifies the CLAIM signature with the paired key and, while no token
 * of this pairing has been used yet, mints a token (replacing an unused one from an earlier claim whose
 * reply may have been lost) in one synced write. Returns the token. Throws UnauthenticatedError for
 * any failure, including a claim after the token was first used or after a rotation.
 */
export async function claimToken(
  ctx: NodeContext,
  nodeId: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): Promise<{ token: string; displayName: string }> {
  checkNodeId(nodeId);
  await ctx.challenges.consume(nonce, nodeId);
  const node = await ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.claim, nodeId, nonce, Buffer.alloc(0), signature);
  const claimed = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const current = await tx.get("nodes", nodeId);
    if (current === undefined || current.publicKey !== node.publicKey) throw new UnauthenticatedError("node not paired");
    if (tokenUsed(current)) throw new UnauthenticatedError("token already claimed and used");
    if ((current.previousTokenHash ?? "") !== "") throw new UnauthenticatedError("claim after a rotation");
    const reclaim = current.tokenHash !== "";
    const token = newNodeToken();
    const now = ctx.clock.now();
    const next: NodeRecord = {
      ...current,
      tokenHash: sha256Hex(token),
      tokenIssuedAtMs: now,
      tokenUsedAtMs: 0,
      previousTokenHash: "",
      previousTokenExpiresAtMs: 0,
    };
    applyOps(tx, [put("nodes", nodeId, next), ctx.audit.op({ action: "node.claim", role: "node", subjectId: nodeId, detail: reclaim ? "reclaim" : "" })]);
    return { token, displayName: current.displayName, reclaim };
  });
  ctx.log.info("node token claimed", { node: nodeId, reclaim: claimed.reclaim });
  return { token: claimed.token, displayName: claimed.displayName };
}

/**
 * RotateToken: checks the session, consumes the nonce, verifies the ROTATE signature (body = SHA-256
 * of the session token) and issues a new token in one synced write. The token the node holds stays
 * valid as the previous token until the new one is first used or the 10-minute grace ends; repeating
 * the rotation before the new token is used replaces the unused one and keeps the previous token and
 * its deadline (so a lost reply never strands the node, and nothing expired comes back). Returns the
 * new token. Throws UnauthenticatedError.
 */
export async function rotateToken(
  ctx: NodeContext,
  sessionToken: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): Promise<{ token: string }> {
  const { nodeId } = await ctx.sessions.check(sessionToken);
  await ctx.challenges.consume(nonce, nodeId);
  const node = await ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.rotate, nodeId, nonce, digestBody(sessionToken), signature);
  const result = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const current = await tx.get("nodes", nodeId);
    if (current === undefined || current.tokenHash === "") throw new UnauthenticatedError("node not paired or token unclaimed");
    const token = newNodeToken();
    const now = ctx.clock.now();
    // The node's session came from the current token if it was used; else from the previous one, which
    // keeps its deadline (an expired one stays recorded, so ClaimToken stays closed, but is never accepted).
    const previous = tokenUsed(current)
      ? { previousTokenHash: current.tokenHash, previousTokenExpiresAtMs: now + PREVIOUS_TOKEN_GRACE_MS }
      : { previousTokenHash: current.previousTokenHash ?? "", previousTokenExpiresAtMs: current.previousTokenExpiresAtMs ?? 0 };
    const next: NodeRecord = { ...current, tokenHash: sha256Hex(token), tokenIssuedAtMs: now, tokenUsedAtMs: 0, ...previous };
    applyOps(tx, [put("nodes", nodeId, next), ctx.audit.op({ action: "node.rotate", role: "node", subjectId: nodeId })]);
    ctx.publishNodeEvent(tx, { type: "token-rotated", nodeId, displayName: current.displayName, atMs: now });
    return { token, validUntilMs: previous.previousTokenExpiresAtMs };
  });
  ctx.log.info("node token rotated", { node: nodeId, previousValidUntilMs: result.validUntilMs });
  return { token: result.token };
}
