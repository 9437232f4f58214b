import { createHash, timingSafeEqual } from "node:crypto";
import { UnauthenticatedError } from "./errors";
import type { NodeContext } from "./node-context";
import { checkNodeId } from "./node-input";
import type { NodeScopedEvent, NodeWatch } from "./node-types";
import { digestBody, SignPurpose } from "./signed-payload";

/**
 * Authenticate: consumes the nonce, verifies the CONNECT signature (body = SHA-256 of the token) with
 * the paired key, compares the token's SHA-256 with the stored one in constant time, and opens a
 * 15-minute session. Runs synchronously after the nonce check, so it never interleaves with a
 * revocation. Throws UnauthenticatedError.
 */
export function authenticate(
  ctx: NodeContext,
  nodeId: string,
  nonce: Uint8Array,
  signature: Uint8Array,
  token: string,
): { sessionToken: string; expiresAtMs: number; displayName: string } {
  checkNodeId(nodeId);
  ctx.challenges.consume(nonce, nodeId);
  const node = ctx.pairedOrFail(nodeId);
  ctx.verify(ctx.keyOf(node), SignPurpose.connect, nodeId, nonce, digestBody(token), signature);
  if (node.tokenHash === "") throw new UnauthenticatedError("token not claimed yet");
  if (!timingSafeEqual(createHash("sha256").update(token, "utf8").digest(), Buffer.from(node.tokenHash, "hex"))) {
    throw new UnauthenticatedError("token mismatch");
  }
  const session = ctx.sessions.issue(nodeId);
  ctx.lastSeen.set(nodeId, ctx.clock.now());
  ctx.log.info("node authenticated", { node: nodeId });
  return { sessionToken: session.token, expiresAtMs: session.expiresAtMs, displayName: node.displayName };
}

/** Heartbeat: checks the session. Throws UnauthenticatedError. */
export function heartbeat(ctx: NodeContext, sessionToken: string): { serverTimeMs: number; sessionExpiresAtMs: number } {
  const session = ctx.sessions.check(sessionToken);
  const now = ctx.clock.now();
  ctx.lastSeen.set(session.nodeId, now);
  return { serverTimeMs: now, sessionExpiresAtMs: ctx.sessions.expiresAtMs(session) };
}

/**
 * Opens a WatchNode subscription for the session's node: `deliver` first gets "subscribed" (with the
 * current name), then renamed / token-rotated / revoked events; `ended` rejects with UnauthenticatedError when the node is revoked or re-paired or
 * the session expires. Throws UnauthenticatedError for a bad session.
 */
export function watchNode(ctx: NodeContext, sessionToken: string, deliver: (e: NodeScopedEvent) => void): NodeWatch {
  const session = ctx.sessions.check(sessionToken);
  let fail!: (err: Error) => void;
  const ended = new Promise<void>((_, reject) => (fail = reject));
  ended.catch(() => undefined);
  const unsubscribe = ctx.nodeEvents.subscribe((e) => {
    if (e.nodeId !== session.nodeId) return;
    deliver(e);
    if (e.type === "revoked" || e.type === "repaired") fail(new UnauthenticatedError(`node ${e.type}`));
  });
  // First message: the subscription is live (every later change reaches it) and the current name.
  deliver({ type: "subscribed", nodeId: session.nodeId, displayName: ctx.pairedOrFail(session.nodeId).displayName, atMs: ctx.clock.now() });
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
