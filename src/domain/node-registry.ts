import type { AuditRole } from "./audit-log";
import { NotFoundError } from "./errors";
import { NODE_LOCK, type NodeContext, nodeEvent } from "./node-context";
import { checkHexPrefix, checkNodeId, isAfterCursor, normalizeDisplayName, prefixRange } from "./node-input";
import type { PairedNodeView } from "./node-types";
import { decodePageToken, effectivePageSize, encodePageToken, type Page, type PageRequest } from "./paging";
import { del, put } from "./store";

/** Lists paired nodes in node id order, optionally by id prefix. Throws InvalidArgumentError. */
export async function listNodes(ctx: NodeContext, page: PageRequest, nodeIdPrefix = ""): Promise<Page<PairedNodeView>> {
  checkHexPrefix(nodeIdPrefix, 64, "node_id_prefix");
  const size = effectivePageSize(page.pageSize);
  const after = page.pageToken === "" ? undefined : decodePageToken(page.pageToken, isAfterCursor).after;
  const range = prefixRange(nodeIdPrefix);
  const items: PairedNodeView[] = [];
  let more = false;
  const iterRange = after === undefined ? { ...range, limit: size + 1 } : { gt: after, lt: range.lt, limit: size + 1 };
  for await (const [, n] of ctx.store.collection("nodes").entries(iterRange)) {
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
  const { node, now } = await ctx.mutex.run(NODE_LOCK, async () => {
    const current = await ctx.store.collection("nodes").get(nodeId);
    if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
    const node = { ...current, displayName };
    const audit = ctx.audit.op({ action: "node.rename", role, subjectId: nodeId, detail: displayName });
    await ctx.store.write([put("nodes", nodeId, node), audit], { sync: true });
    return { node, now: ctx.clock.now() };
  });
  ctx.log.info("node renamed", { node: nodeId });
  ctx.nodeEvents.emit({ type: "renamed", nodeId, displayName, atMs: now });
  ctx.events.emit({ ...nodeEvent("renamed", node, now), requestId: "" });
  return ctx.view(node);
}

/**
 * Revokes (unpairs) a node in one synced write, then ends its sessions and streams. After this
 * returns, Authenticate for the node fails. Throws NotFoundError, InvalidArgumentError.
 */
export async function revoke(ctx: NodeContext, nodeId: string, role: AuditRole = "owner"): Promise<PairedNodeView> {
  checkNodeId(nodeId);
  const { node, now } = await ctx.mutex.run(NODE_LOCK, async () => {
    const current = await ctx.store.collection("nodes").get(nodeId);
    if (current === undefined) throw new NotFoundError(`no paired node ${nodeId}`);
    await ctx.store.write([del("nodes", nodeId), ctx.audit.op({ action: "node.revoke", role, subjectId: nodeId })], { sync: true });
    return { node: current, now: ctx.clock.now() };
  });
  const view = ctx.view(node);
  ctx.sessions.endNode(nodeId);
  ctx.forgetKey(nodeId);
  ctx.lastSeen.delete(nodeId);
  ctx.log.info("node revoked", { node: nodeId });
  ctx.nodeEvents.emit({ type: "revoked", nodeId, displayName: node.displayName, atMs: now });
  ctx.events.emit({ ...nodeEvent("revoked", node, now), requestId: "" });
  return view;
}
