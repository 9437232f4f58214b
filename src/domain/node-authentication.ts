import { createHash, timingSafeEqual } from "node:crypto";
import { UnauthenticatedError } from "./errors";
import { NODE_LOCK, type NodeContext } from "./node-context";
import { checkNodeId } from "./node-input";
import { livePreviousTokenHash, type NodeRecord, tokenUsed } from "./node-records";
import type { NodeScopedEvent, NodeWatch } from "./node-types";
import { digestBody, SignPurpose } from "./signed-payload";

/** What Authenticate returns. */
export interface AuthenticateResult {
  sessionToken: string;
  expiresAtMs: number;
  displayName: string;
}

/** Which stored token a presented token matches, compared in constant time against both. */
function matchToken(node: NodeRecord, token: string, nowMs: number): "current" | "previous" | "none" {
  const digest = createHash("sha256").update(token, "utf8").digest();
  const previous = livePreviousTokenHash(node, nowMs);
  // Both comparisons always run (the previous one against a dummy when there is none).
  const isCurrent = timingSafeEqual(digest, Buffer.from(node.tokenHash, "hex"));
  const isPrevious = timingSafeEqual(digest, Buffer.from(previous === "" ? NO_HASH : previous, "hex")) && previous !== "";
  return isCurrent ? "current" : isPrevious ? "previous" : "none";
}
const NO_HASH = "00".repeat(32);

/**
 * Authenticate: consumes the nonce, verifies the CONNECT signature (body = SHA-256 of the token) with
 * the paired key, compares the token's SHA-256 with the stored current and previous token hashes in
 * constant time, and opens a 15-minute session. The hot path (the current token, already used, or the
 * previous token within its grace) runs synchronously after the nonce check and writes nothing, so it
 * never interleaves with a revocation. The first use of a token is recorded, retiring the previous
 * token, in one synced write under the node lock before the session is issued. Throws
 * UnauthenticatedError.
 */
export async function authenticate(
  ctx: NodeContext,
  nodeId: string,
  nonce: Uint8Array,
  signature: Uint8Array,
  token: string,
): Promise<AuthenticateResult> {
  checkNodeId(nodeId);
  await ctx.challenges.consume(nonce, nodeId);
  const node = await ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.connect, nodeId, nonce, digestBody(token), signature);
  if (node.tokenHash === "") throw new UnauthenticatedError("token not claimed yet");
  const match = matchToken(node, token, ctx.clock.now());
  if (match === "none") throw new UnauthenticatedError("token mismatch");
  if (match === "previous" || tokenUsed(node)) return openSession(ctx, node, match);
  const first = await ctx.store.transact(NODE_LOCK, async (tx) => {
    // Re-read under the lock: a revocation, repair, rotation or another first use may have won.
    const current = await tx.get("nodes", nodeId);
    if (current === undefined || current.publicKey !== node.publicKey) throw new UnauthenticatedError("node not paired");
    const now = ctx.clock.now();
    const again = current.tokenHash === "" ? "none" : matchToken(current, token, now);
    if (again === "none") throw new UnauthenticatedError("token replaced meanwhile");
    const recorded = again === "current" && !tokenUsed(current);
    if (recorded) tx.put("nodes", nodeId, { ...current, tokenUsedAtMs: now, previousTokenHash: "", previousTokenExpiresAtMs: 0 });
    return { current, again, recorded };
  });
  if (first.recorded) ctx.log.info("node token first used", { node: nodeId, previousRetired: (first.current.previousTokenHash ?? "") !== "" });
  return openSession(ctx, first.current, first.again);
}

async function openSession(ctx: NodeContext, node: NodeRecord, match: "current" | "previous"): Promise<AuthenticateResult> {
  const session = await ctx.sessions.issue(node);
  ctx.lastSeen.set(node.nodeId, ctx.clock.now());
  ctx.log.info("node authenticated", { node: node.nodeId, ...(match === "previous" ? { token: "previous" } : {}) });
  return { sessionToken: session.token, expiresAtMs: session.expiresAtMs, displayName: node.displayName };
}

/** Heartbeat: checks the session. Throws UnauthenticatedError, UnavailableError. */
export async function heartbeat(ctx: NodeContext, sessionToken: string): Promise<{ serverTimeMs: number; sessionExpiresAtMs: number }> {
  const session = await ctx.sessions.check(sessionToken);
  const now = ctx.clock.now();
  ctx.lastSeen.set(session.nodeId, now);
  return { serverTimeMs: now, sessionExpiresAtMs: ctx.sessions.expiresAtMs(session) };
}

/**
 * Opens a WatchNode subscription for the session's node: `deliver` first gets "subscribed" (with the
 * current name), then renamed / token-rotated / revoked events; `ended` rejects with UnauthenticatedError when the node is revoked or re-paired or
 * the session expires. Throws UnauthenticatedError for a bad session.
 */
export async function watchNode(ctx: NodeContext, sessionToken: string, deliver: (e: NodeScopedEvent) => void): Promise<NodeWatch> {
  const session = await ctx.sessions.check(sessionToken);
  let fail!: (err: Error) => void;
  const ended = new Promise<void>((_, reject) => (fail = reject));
  ended.catch(() => undefined);
  // Subscribe before reading the node, holding back what arrives meanwhile: no change can fall between.
  let held: NodeScopedEvent[] | undefined = [];
  const onEvent = (e: NodeScopedEvent): void => {
    deliver(e);
    if (e.type === "revoked" || e.type === "repaired") fail(new UnauthenticatedError(`node ${e.type}`));
  };
  const unsubscribe = ctx.nodeEvents.subscribe((e) => {
    if (e.nodeId !== session.nodeId) return;
    if (held !== undefined) held.push(e);
    else onEvent(e);
  });
  let node: NodeRecord;
  try {
    node = await ctx.pairedOrFail(session.nodeId);
  } catch (err) {
    unsubscribe();
    throw err;
  }
  // First message: the subscription is live (every later change reaches it) and the current name.
  deliver({ type: "subscribed", nodeId: session.nodeId, displayName: node.displayName, atMs: ctx.clock.now() });
  const early = held;
  held = undefined;
  for (const e of early) onEvent(e);
  const timer = setTimeout(
    () => fail(new UnauthenticatedError("session expired")),
    Math.max(0, session.dueMono - ctx.clock.monotonic()),
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
