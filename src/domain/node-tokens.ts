import { UnauthenticatedError } from "./errors";
import { NODE_LOCK, newNodeToken, type NodeContext, sha256Hex } from "./node-context";
import { checkNodeId } from "./node-input";
import { digestBody, SignPurpose } from "./signed-payload";
import { put } from "./store";

/**
 * ClaimToken: consumes the nonce, verifies the CLAIM signature with the paired key and, if the token
 * was never claimed, mints it (synced). Returns the token once. Throws UnauthenticatedError for any
 * failure, including a second claim.
 */
export async function claimToken(
  ctx: NodeContext,
  nodeId: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): Promise<{ token: string; displayName: string }> {
  checkNodeId(nodeId);
  ctx.challenges.consume(nonce, nodeId);
  const node = ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.claim, nodeId, nonce, Buffer.alloc(0), signature);
  return ctx.mutex.run(NODE_LOCK, async () => {
    const current = await ctx.store.collection("nodes").get(nodeId);
    if (current === undefined || current.publicKey !== node.publicKey) throw new UnauthenticatedError("node not paired");
    if (current.tokenHash !== "") throw new UnauthenticatedError("token already claimed");
    const token = newNodeToken();
    const now = ctx.clock.now();
    await ctx.store.write([put("nodes", nodeId, { ...current, tokenHash: sha256Hex(token), tokenIssuedAtMs: now })], {
      sync: true,
    });
    ctx.log.info("node token claimed", { node: nodeId });
    return { token, displayName: current.displayName };
  });
}

/**
 * RotateToken: checks the session, consumes the nonce, verifies the ROTATE signature (body = SHA-256
 * of the session token) and replaces the token hash in one synced write. Returns the new token once.
 * Throws UnauthenticatedError.
 */
export async function rotateToken(
  ctx: NodeContext,
  sessionToken: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): Promise<{ token: string }> {
  const { nodeId } = ctx.sessions.check(sessionToken);
  ctx.challenges.consume(nonce, nodeId);
  const node = ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.rotate, nodeId, nonce, digestBody(sessionToken), signature);
  const result = await ctx.mutex.run(NODE_LOCK, async () => {
    const current = await ctx.store.collection("nodes").get(nodeId);
    if (current === undefined || current.tokenHash === "") throw new UnauthenticatedError("node not paired or token unclaimed");
    const token = newNodeToken();
    const now = ctx.clock.now();
    await ctx.store.write([put("nodes", nodeId, { ...current, tokenHash: sha256Hex(token), tokenIssuedAtMs: now })], {
      sync: true,
    });
    return { token, displayName: current.displayName, now };
  });
  ctx.log.info("node token rotated", { node: nodeId });
  ctx.nodeEvents.emit({ type: "token-rotated", nodeId, displayName: result.displayName, atMs: result.now });
  return { token: result.token };
}
