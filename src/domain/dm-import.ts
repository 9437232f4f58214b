import type { AuditRole } from "./audit-log";
import { applyOps, type StoreTx } from "./shared-store";
import { normalizeSenderId } from "./channels";
import { type DmContext, expiryKey, isLive, type Scope, scopeRange } from "./dm-context";
import { sanitizeMeta } from "./dm-inbound";
import type { DmAllowRecord, DmRequestRecord } from "./dm-records";
import { InvalidArgumentError } from "./errors";
import { normalizePairingCode } from "./pairing-code";
import { put, type WriteOp } from "./store";

/** One sender to allow. */
export interface ImportSenderInput {
  channel: string;
  accountId: string;
  senderId: string;
}

/** One pending request to carry over with its code. */
export interface ImportRequestInput extends ImportSenderInput {
  code: string;
  createdAtMs: number;
  meta: Record<string, string>;
}

/** What to import, from where (written into the audit records). */
export interface ImportInput {
  source: string;
  senders: readonly ImportSenderInput[];
  requests: readonly ImportRequestInput[];
  dryRun: boolean;
}

/** One entry not imported, with the reason. */
export interface ImportSkip {
  kind: "sender" | "request";
  channel: string;
  accountId: string;
  senderId: string;
  reason: string;
}

/** The import's summary. */
export interface ImportSummary {
  sendersImported: number;
  requestsImported: number;
  skipped: ImportSkip[];
  dryRun: boolean;
}

/** Most entries one import may carry (one LevelDB batch). */
export const MAX_IMPORT_ENTRIES = 100_000;

/**
 * Imports allowed senders and live pending requests in ONE synced write, with an audit record per
 * imported entry (action "import", or "pairing.add" for source "file"). Idempotent: senders already
 * allowed (by the store or by config) and requests already pending are skipped, as are "*", unknown
 * channels, malformed ids and codes, expired requests, codes already in use and requests beyond the
 * per-account pending limit. Holds the lock of every channel account involved while it reads and
 * writes. Throws InvalidArgumentError for more than {@link MAX_IMPORT_ENTRIES} entries,
 * UnavailableError when the write fails.
 */
export async function importState(ctx: DmContext, input: ImportInput, role: AuditRole = "owner"): Promise<ImportSummary> {
  if (input.senders.length + input.requests.length > MAX_IMPORT_ENTRIES) {
    throw new InvalidArgumentError(`at most ${MAX_IMPORT_ENTRIES} entries per import`, "senders");
  }
  const summary: ImportSummary = { sendersImported: 0, requestsImported: 0, skipped: [], dryRun: input.dryRun };
  const action = input.source === "file" ? "pairing.add" : "import";
  const skip = (kind: ImportSkip["kind"], e: ImportSenderInput, reason: string): void => {
    summary.skipped.push({ kind, channel: e.channel, accountId: e.accountId, senderId: e.senderId, reason });
  };
  type Resolved<E> = { entry: E; scope: Scope; senderId: string };
  const resolve = <E extends ImportSenderInput>(kind: ImportSkip["kind"], e: E): Resolved<E> | undefined => {
    if (e.senderId.trim() === "*") {
      skip(kind, e, '"*" cannot be stored (a wildcard belongs in config allowFrom with dmPolicy "open")');
      return undefined;
    }
    try {
      const scope = ctx.scope(e.channel, e.accountId === "" ? "default" : e.accountId);
      return { entry: e, scope, senderId: normalizeSenderId(scope.spec, e.senderId) };
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      skip(kind, e, err.message);
      return undefined;
    }
  };
  const senders = input.senders.map((e) => resolve("sender", e)).filter((r) => r !== undefined);
  const requests = input.requests.map((e) => resolve("request", e)).filter((r) => r !== undefined);
  const scopes = [...new Set([...senders, ...requests].map((r) => r.scope.key))].sort();

  const skippedBeforeBody = summary.skipped.length;
  const body = async (tx: StoreTx): Promise<boolean> => {
    // A retried attempt (PostgreSQL) starts its counts over.
    summary.skipped.length = skippedBeforeBody;
    summary.sendersImported = 0;
    summary.requestsImported = 0;
    const ops: WriteOp[] = [];
    const now = ctx.clock.now();
    const allowAdded = new Set<string>();
    const statsDelta = new Map<string, { scope: Scope; delta: number }>();
    for (const { entry, scope, senderId } of senders) {
      const key = scope.key + senderId;
      const policy = ctx.policies.resolve(scope.channel, scope.accountId);
      if (allowAdded.has(key) || (await tx.get("dmAllow", key)) !== undefined) {
        skip("sender", entry, "already allowed");
        continue;
      }
      if (policy.allowSet.has(senderId)) {
        skip("sender", entry, "already allowed by config allowFrom");
        continue;
      }
      allowAdded.add(key);
      const allow: DmAllowRecord = { approvedAtMs: now, via: "added", meta: {} };
      ops.push(put("dmAllow", key, allow));
      ops.push(ctx.audit.op({ action, role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId, via: "import", detail: input.source }));
      const d = statsDelta.get(scope.key) ?? { scope, delta: 0 };
      d.delta++;
      statsDelta.set(scope.key, d);
      summary.sendersImported++;
    }
    for (const { scope, delta } of statsDelta.values()) ops.push(await ctx.statsOp(tx, scope, delta));

    const added: Array<{ scope: Scope; expiresAtMs: number; replaced: boolean }> = [];
    const liveCount = new Map<string, number>();
    const codesTaken = new Set<string>();
    for (const { entry, scope, senderId } of requests) {
      let code: string;
      try {
        code = normalizePairingCode(entry.code);
      } catch {
        skip("request", entry, "malformed pairing code");
        continue;
      }
      const expiresAtMs = entry.createdAtMs + ctx.ttlMs;
      if (!Number.isSafeInteger(entry.createdAtMs) || entry.createdAtMs <= 0 || entry.createdAtMs > now + 60_000) {
        skip("request", entry, "malformed creation time");
        continue;
      }
      if (expiresAtMs <= now) {
        skip("request", entry, "expired");
        continue;
      }
      const policy = ctx.policies.resolve(scope.channel, scope.accountId);
      if (policy.policy !== "pairing") {
        skip("request", entry, `dmPolicy of ${scope.channel}/${scope.accountId} is "${policy.policy}": no pairing requests`);
        continue;
      }
      if (allowAdded.has(scope.key + senderId) || (await ctx.allowedBy(scope, policy, senderId, tx)) !== undefined) {
        skip("request", entry, "sender already allowed");
        continue;
      }
      const existing = await tx.get("dmRequests", scope.key + senderId);
      if (existing !== undefined && isLive(existing, now)) {
        skip("request", entry, existing.code === code ? "already pending" : "sender already has a pending request");
        continue;
      }
      if (codesTaken.has(scope.key + code) || (await tx.get("dmCodes", scope.key + code)) !== undefined) {
        skip("request", entry, "code in use");
        continue;
      }
      let live = liveCount.get(scope.key);
      if (live === undefined) {
        live = 0;
        for await (const [, r] of tx.entries("dmRequests", scopeRange(scope))) if (isLive(r, now)) live++;
      }
      if (live >= ctx.maxPending) {
        skip("request", entry, `pending queue of ${scope.channel}/${scope.accountId} is full (dm.maxPending ${ctx.maxPending})`);
        continue;
      }
      let meta: Record<string, string>;
      try {
        meta = sanitizeMeta(entry.meta);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        skip("request", entry, `malformed meta: ${err.message}`);
        continue;
      }
      liveCount.set(scope.key, live + 1);
      codesTaken.add(scope.key + code);
      const record: DmRequestRecord = {
        code,
        createdAtMs: entry.createdAtMs,
        lastSeenAtMs: entry.createdAtMs,
        expiresAtMs,
        meta,
      };
      // A dead request of this sender (not yet swept) is replaced: drop its indexes in the same batch.
      if (existing !== undefined) ops.push(...ctx.removeRequestOps(scope, senderId, existing));
      ops.push(
        put("dmRequests", scope.key + senderId, record),
        put("dmCodes", scope.key + code, { senderId }),
        put("dmExpiry", expiryKey(expiresAtMs, scope, senderId), { channel: scope.channel, accountId: scope.accountId, senderId }),
        ctx.audit.op({ action, role, channel: scope.channel, accountId: scope.accountId, subjectId: senderId, detail: `${input.source}: pending request` }),
      );
      added.push({ scope, expiresAtMs, replaced: existing !== undefined });
      summary.requestsImported++;
    }
    if (input.dryRun || ops.length === 0) return false;
    applyOps(tx, ops);
    // Keep the per-scope occupancy summaries in step (a replaced dead record leaves, the new one arrives).
    tx.afterCommit(() => {
      for (const a of added) {
        if (a.replaced) ctx.noteStored(a.scope, -1);
        ctx.noteStored(a.scope, +1, a.expiresAtMs);
      }
    });
    return true;
  };
  await withLocks(ctx, scopes, body);
  ctx.log.info("state imported", {
    source: input.source,
    senders: summary.sendersImported,
    requests: summary.requestsImported,
    skipped: summary.skipped.length,
    dryRun: input.dryRun,
  });
  return summary;
}

/**
 * Runs `fn` in one synced transaction holding the lock of every scope key (taken in sorted order, so
 * two imports never deadlock), committed only when `fn` returns true (a dry run writes nothing).
 */
async function withLocks(ctx: DmContext, keys: readonly string[], fn: (tx: StoreTx) => Promise<boolean>): Promise<boolean> {
  const [first, ...rest] = keys;
  if (first === undefined) return false;
  return ctx.store.transact(first, async (tx) => {
    for (const key of rest) await tx.lock(key);
    return fn(tx);
  });
}
