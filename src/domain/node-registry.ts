import type { AuditRole } from "./audit-log";
import { NotFoundError } from "./errors";
import { NODE_LOCK, type NodeContext, nodeEvent } from "./node-context";
import { checkHexPrefix, checkNodeId, isAfterCursor, normalizeDisplayName, prefixRange } from "./node-input";
import type { PairedNodeView } from "./node-types";
import { decodePageToken, effectivePageSize, encodePageToken, type Page, type PageRequest } from "./paging";
import { del, put } from "./store";
import { applyOps } from "./shared-store";

/** Lists paired nodes in node id order, optionally by id prefix. Throws InvalidArgumentError. */
export async function listNodes(ctx: NodeContext, page: PageRequest, nodeIdPrefix = ""): Promise<Page<PairedNodeView>> {
  checkHexPrefix(nodeIdPrefix, 64, "node_id_prefix");
  const size = effectivePageSize(page.pageSize);
  const after = page.pageToken === "" ? undefined : decodePageToken(page.pageToken, isAfterCursor).after;
  const range = prefixRange(nodeIdPrefix);
  const items: PairedNodeView[] = [];
  let more = false;
  const iterRange = after === undefined ? { ...range, limit: size + 1 } : { gt: after, lt: range.lt, limit: size + 1 };
  for await (const [, n] of ctx.store.entries("nodes", iterRange)) {
    if (items.length === size) {
      more = true;
      break;
    }
    items.push(ctx.view(n));
  }
  const last = items[items.length - 1];
  return { items, nextPageToken: more && last !== undefined ? encodePageToken({ after: last.nodeId }) : "" };
}

/** Renames a paired node. Throws NotFoundError, InvalidArgumentError. */
export async function rename(ctx: NodeContext, nodeId: string, rawName: string, role: AuditRole = "owner"): Promise<PairedNodeView> {
  checkNodeId(nodeId);
  const displayName = normalizeDisplayName(rawName);
  const { node } = await ctx.store.transact(NODE_LOCK, async (tx) => {
    const current = await tx.get("nodes", nodeId);
    if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
    const node = { ...current, displayName };
    const audit = ctx.audit.op({ action: "node.rename", role, subjectId: nodeId, detail: displayName });
    applyOps(tx, [put("nodes", nodeId, node), audit]);
    const now = ctx.clock.now();
    ctx.publishNodeEvent(tx, { type: "renamed", nodeId, displayName, atMs: now });
    ctx.publishEvent(tx, { ...nodeEvent("renamed", node, now), requestId: "" });
    return { node };
  });
  ctx.log.info("node renamed", { node: nodeId });
  return ctx.view(node);
}

/**
 * Revokes (unpairs) a node in one synced write, then ends its sessions and streams. After this
 * returns, Authenticate for the node fails. Throws NotFoundError, InvalidArgumentError.
 */
export async function revoke(ctx: NodeContext, nodeId: string, role: AuditRole = "owner"): Promise<PairedNodeView> {
  checkNodeId(nodeId);
  // The view is taken before the commit: the commit's feed delivery ends the sessions it counts.
  let view: PairedNodeView | undefined;
  await ctx.store.transact(NODE_LOCK, async (tx) => {
    const current = await tx.get("nodes", nodeId);
    if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
    applyOps(tx, [del("nodes", nodeId), ctx.audit.op({ action: "node.revoke", role, subjectId: nodeId })]);
    const now = ctx.clock.now();
    // Every daemon ends the node's sessions, streams and cached key when this event reaches it.
    ctx.publishNodeEvent(tx, { type: "revoked", nodeId, displayName: current.displayName, atMs: now });
    ctx.publishEvent(tx, { ...nodeEvent("revoked", current, now), requestId: "" });
    view = ctx.view(current);
  });
  ctx.log.info("node revoked", { node: nodeId });
  return view!;
}
