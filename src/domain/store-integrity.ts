import { KEY_SEP, ms16, type CollectionName, type Store, del, put, type WriteOp } from "./store";
import { gatewayIdentityOf } from "./gateway-identity";
import { nodeIdOf } from "./ed25519-key";
import type { DmRequestRecord } from "./dm-records";
import type { NodeRecord, NodeRequestRecord } from "./node-records";

/** One broken invariant found by {@link checkStoreIntegrity}. */
export interface IntegrityProblem {
  /** The collection (or "meta") holding the offending entry. */
  collection: CollectionName | "meta";
  /** Its key; NUL separators shown as "/". */
  key: string;
  message: string;
}

/** What {@link checkStoreIntegrity} found. */
export interface IntegrityReport {
  /** Entries per collection. */
  counts: Record<CollectionName, number>;
  /** The first {@link MAX_LISTED} problems. */
  problems: IntegrityProblem[];
  /** All problems, listed or not. */
  problemCount: number;
  /**
   * Writes that restore every derivable invariant: rebuilt code/expiry/node-request indexes, recounted
   * per-account counters, and removal of records too malformed to serve (removal only ever denies:
   * a dropped allowlist entry or node must be approved again). Applied only by `pairgate db repair`.
   */
  fixes: WriteOp[];
}

const MAX_LISTED = 1000;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;

/**
 * Reads every collection of `store` and checks the cross-index invariants: DM request <-> code <->
 * expiry, allowlist <-> per-account counters, node request <-> by-node <-> expiry, node id = SHA-256
 * of its key, token digests well formed, node invites well formed, and the stored gateway identity (`identity`, raw). Streams
 * the big collections; never throws for bad data (that is what it reports), only for read failures.
 */
export async function checkStoreIntegrity(store: Store, identity: unknown): Promise<IntegrityReport> {
  const report: IntegrityReport = { counts: {} as Record<CollectionName, number>, problems: [], problemCount: 0, fixes: [] };
  const problem = (collection: CollectionName | "meta", key: string, message: string): void => {
    report.problemCount++;
    if (report.problems.length < MAX_LISTED) report.problems.push({ collection, key: key.replaceAll(KEY_SEP, "/"), message });
  };
  const entries = async function* <N extends CollectionName>(name: N) {
    report.counts[name] = 0;
    for await (const entry of store.collection(name).entries({})) {
      report.counts[name]++;
      yield entry;
    }
  };

  if (identity === undefined) problem("meta", "gateway_identity", "gateway identity is missing: every paired node must pair again");
  else {
    try {
      gatewayIdentityOf(identity);
    } catch {
      problem("meta", "gateway_identity", "gateway identity is malformed");
    }
  }

  // DM requests and their two indexes.
  const liveCodes = new Set<string>();
  const liveExpiry = new Set<string>();
  for await (const [key, r] of entries("dmRequests")) {
    const scope = key.slice(0, key.lastIndexOf(KEY_SEP) + 1);
    const sender = key.slice(scope.length);
    if (!isDmRequest(r) || scope.split(KEY_SEP).length !== 3) {
      problem("dmRequests", key, "malformed pending request");
      report.fixes.push(del("dmRequests", key));
      continue;
    }
    const codeKey = scope + r.code;
    const expiryKey = ms16(r.expiresAtMs) + KEY_SEP + key;
    liveCodes.add(codeKey);
    liveExpiry.add(expiryKey);
    const code = await store.collection("dmCodes").get(codeKey);
    if (code?.senderId !== sender) {
      problem("dmRequests", key, code === undefined ? "no code index entry" : "its code indexes another sender");
      report.fixes.push(put("dmCodes", codeKey, { senderId: sender }));
    }
    if ((await store.collection("dmExpiry").get(expiryKey)) === undefined) {
      const [channel = "", accountId = ""] = scope.split(KEY_SEP);
      problem("dmRequests", key, "no expiry index entry");
      report.fixes.push(put("dmExpiry", expiryKey, { channel, accountId, senderId: sender }));
    }
  }
  for await (const [key] of entries("dmCodes")) {
    if (!liveCodes.has(key)) {
      problem("dmCodes", key, "code index entry without its pending request");
      report.fixes.push(del("dmCodes", key));
    }
  }
  for await (const [key] of entries("dmExpiry")) {
    if (!liveExpiry.has(key)) {
      problem("dmExpiry", key, "expiry index entry without its pending request");
      report.fixes.push(del("dmExpiry", key));
    }
  }

  // Allowlist and per-account counters.
  const allowed = new Map<string, number>();
  for await (const [key, a] of entries("dmAllow")) {
    const scope = key.slice(0, key.lastIndexOf(KEY_SEP) + 1);
    if (typeof a?.approvedAtMs !== "number" || (a.via !== "pairing-code" && a.via !== "added")) {
      problem("dmAllow", key, "malformed allowlist entry");
      report.fixes.push(del("dmAllow", key));
      continue;
    }
    allowed.set(scope, (allowed.get(scope) ?? 0) + 1);
  }
  const counted = new Set<string>();
  for await (const [key, s] of entries("dmScopeStats")) {
    counted.add(key);
    const actual = allowed.get(key) ?? 0;
    if (s?.approvedCount !== actual) {
      problem("dmScopeStats", key, `approved count says ${String(s?.approvedCount)}, the allowlist holds ${actual}`);
      report.fixes.push(put("dmScopeStats", key, { approvedCount: actual }));
    }
  }
  for (const [scope, n] of allowed) {
    if (counted.has(scope)) continue;
    problem("dmScopeStats", scope, `no counter for an account with ${n} allowed senders`);
    report.fixes.push(put("dmScopeStats", scope, { approvedCount: n }));
  }
  report.counts.dmOutbox = 0;
  for await (const _ of store.collection("dmOutbox").entries({})) report.counts.dmOutbox++;

  // Node requests and their indexes.
  const liveNodeExpiry = new Set<string>();
  const byNode = new Map<string, string>();
  for await (const [key, r] of entries("nodeRequests")) {
    if (!isNodeRequest(r) || r.requestId !== key || !HEX64.test(r.nodeId)) {
      problem("nodeRequests", key, "malformed pending node request");
      report.fixes.push(del("nodeRequests", key));
      continue;
    }
    byNode.set(r.nodeId, key);
    const expiryKey = ms16(r.expiresAtMs) + KEY_SEP + key;
    liveNodeExpiry.add(expiryKey);
    if ((await store.collection("nodeRequestByNode").get(r.nodeId))?.requestId !== key) {
      problem("nodeRequests", key, "no by-node index entry");
      report.fixes.push(put("nodeRequestByNode", r.nodeId, { requestId: key }));
    }
    if ((await store.collection("nodeRequestExpiry").get(expiryKey)) === undefined) {
      problem("nodeRequests", key, "no expiry index entry");
      report.fixes.push(put("nodeRequestExpiry", expiryKey, { requestId: key }));
    }
  }
  for await (const [key, v] of entries("nodeRequestByNode")) {
    if (byNode.get(key) !== v?.requestId) {
      problem("nodeRequestByNode", key, "by-node index entry without its pending request");
      report.fixes.push(del("nodeRequestByNode", key));
    }
  }
  for await (const [key] of entries("nodeRequestExpiry")) {
    if (!liveNodeExpiry.has(key)) {
      problem("nodeRequestExpiry", key, "expiry index entry without its pending request");
      report.fixes.push(del("nodeRequestExpiry", key));
    }
  }

  // Paired nodes.
  for await (const [key, n] of entries("nodes")) {
    const why = nodeProblem(key, n);
    if (why !== undefined) {
      problem("nodes", key, why);
      report.fixes.push(del("nodes", key));
    }
  }

  // The audit trail: counted (its records reference nothing another collection must hold).
  for await (const entry of entries("audit")) void entry;
  // Node invites: a malformed one could never verify a proof; removing it only denies.
  for await (const [key, i] of entries("nodeInvites")) {
    const ok =
      i?.inviteId === key &&
      /^[0-9a-f]{16}$/.test(key) &&
      typeof i.verifyKey === "string" &&
      Buffer.from(i.verifyKey, "base64url").length === 32 &&
      Number.isInteger(i.uses) &&
      Number.isInteger(i.maxUses) &&
      typeof i.expiresAtMs === "number";
    if (!ok) {
      problem("nodeInvites", key, "malformed node invite");
      report.fixes.push(del("nodeInvites", key));
    }
  }
  return report;
}

function isDmRequest(r: unknown): r is DmRequestRecord {
  const x = r as Partial<DmRequestRecord> | undefined;
  return typeof x?.code === "string" && /^[A-Z2-9]{8}$/.test(x.code) && typeof x.expiresAtMs === "number" && typeof x.createdAtMs === "number";
}

function isNodeRequest(r: unknown): r is NodeRequestRecord {
  const x = r as Partial<NodeRequestRecord> | undefined;
  return typeof x?.requestId === "string" && HEX32.test(x.requestId) && typeof x.nodeId === "string" && typeof x.expiresAtMs === "number";
}

function nodeProblem(key: string, n: Partial<NodeRecord> | undefined): string | undefined {
  if (typeof n?.nodeId !== "string" || n.nodeId !== key) return "malformed node record (node id)";
  if (typeof n.publicKey !== "string") return "malformed node record (public key)";
  const raw = Buffer.from(n.publicKey, "base64url");
  if (raw.length !== 32 || nodeIdOf(raw) !== key) return "node id is not the SHA-256 of its public key";
  if (typeof n.tokenHash !== "string" || (n.tokenHash !== "" && !HEX64.test(n.tokenHash))) return "token digest is not 64 lowercase hex";
  if (typeof n.tokenIssuedAtMs !== "number") return "malformed node record (token issue time)";
  return undefined;
}
