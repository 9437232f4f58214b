import { createHash } from "node:crypto";
import { type CollectionName, KEY_SEP, ms16, type Store } from "../../src/domain/store";

async function entries<V>(store: Store, name: CollectionName): Promise<Map<string, V>> {
  const out = new Map<string, V>();
  for await (const [k, v] of store.collection(name).entries({})) out.set(k, v as V);
  return out;
}

/**
 * Reads a whole store and returns every broken cross-index invariant, as sentences (empty = sound):
 * DM request <-> code <-> expiry index, allowlist <-> per-account counter, node request <-> by-node <->
 * expiry index, node id = SHA-256 of its key, token digests well-formed. The crash harness runs it on
 * the database of every killed daemon.
 */
export async function storeInvariantViolations(store: Store): Promise<string[]> {
  const bad: string[] = [];
  const show = (k: string): string => JSON.stringify(k.split(KEY_SEP).join("/"));

  const requests = await entries<{ code: string; expiresAtMs: number }>(store, "dmRequests");
  const codes = await entries<{ senderId: string }>(store, "dmCodes");
  const expiry = await entries<unknown>(store, "dmExpiry");
  for (const [key, r] of requests) {
    const scope = key.slice(0, key.lastIndexOf(KEY_SEP) + 1);
    const sender = key.slice(scope.length);
    if (codes.get(scope + r.code)?.senderId !== sender) bad.push(`dm request ${show(key)} has no code index entry for ${r.code}`);
    if (!expiry.has(ms16(r.expiresAtMs) + KEY_SEP + key)) bad.push(`dm request ${show(key)} has no expiry index entry`);
  }
  for (const [key, c] of codes) {
    const scope = key.slice(0, key.lastIndexOf(KEY_SEP) + 1);
    const r = requests.get(scope + c.senderId);
    if (r === undefined || scope + r.code !== key) bad.push(`dm code ${show(key)} points to no live request`);
  }
  for (const key of expiry.keys()) {
    const requestKey = key.slice(key.indexOf(KEY_SEP) + 1);
    if (ms16(requests.get(requestKey)?.expiresAtMs ?? -1) !== key.slice(0, key.indexOf(KEY_SEP))) bad.push(`dm expiry ${show(key)} points to no live request`);
  }

  const counts = new Map<string, number>();
  for (const key of (await entries<unknown>(store, "dmAllow")).keys()) {
    const scope = key.slice(0, key.lastIndexOf(KEY_SEP) + 1);
    counts.set(scope, (counts.get(scope) ?? 0) + 1);
  }
  const stats = await entries<{ approvedCount: number }>(store, "dmScopeStats");
  for (const scope of new Set([...counts.keys(), ...stats.keys()])) {
    const counted = counts.get(scope) ?? 0;
    const stored = stats.get(scope)?.approvedCount ?? 0;
    if (counted !== stored) bad.push(`allowlist ${show(scope)} holds ${counted} senders but its counter says ${stored}`);
  }

  const nodeRequests = await entries<{ nodeId: string; expiresAtMs: number }>(store, "nodeRequests");
  const byNode = await entries<{ requestId: string }>(store, "nodeRequestByNode");
  const nodeExpiry = await entries<{ requestId: string }>(store, "nodeRequestExpiry");
  for (const [id, r] of nodeRequests) {
    if (byNode.get(r.nodeId)?.requestId !== id) bad.push(`node request ${id} is not its node's live request`);
    if (!nodeExpiry.has(ms16(r.expiresAtMs) + KEY_SEP + id)) bad.push(`node request ${id} has no expiry index entry`);
  }
  for (const [nodeId, b] of byNode) {
    if (nodeRequests.get(b.requestId)?.nodeId !== nodeId) bad.push(`node ${nodeId} points to missing request ${b.requestId}`);
  }
  for (const [key, e] of nodeExpiry) if (!nodeRequests.has(e.requestId)) bad.push(`node expiry ${show(key)} points to no request`);

  const nodes = await entries<{ publicKey: string; tokenHash: string; previousTokenHash?: string }>(store, "nodes");
  for (const [nodeId, n] of nodes) {
    if (createHash("sha256").update(Buffer.from(n.publicKey, "base64url")).digest("hex") !== nodeId) bad.push(`node ${nodeId} is keyed by the wrong id`);
    if (!/^([0-9a-f]{64})?$/.test(n.tokenHash)) bad.push(`node ${nodeId} has a malformed token digest`);
    if (!/^([0-9a-f]{64})?$/.test(n.previousTokenHash ?? "")) bad.push(`node ${nodeId} has a malformed previous token digest`);
  }
  return bad;
}
