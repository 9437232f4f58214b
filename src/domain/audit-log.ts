import { randomBytes } from "node:crypto";
import type { Clock } from "./clock";
import { InvalidArgumentError } from "./errors";
import type { Logger } from "./logger";
import { applyOps, recordLockKey, type SharedStore } from "./shared-store";
import { del, ms16, put, type WriteOp } from "./store";

/**
 * Which socket (and so which role) caused a change: the owner's operator socket, a channel adapter's
 * socket, a node on the node listener, or the daemon itself (expiry sweeps, config reloads).
 */
export type AuditRole = "owner" | "adapter" | "node" | "daemon";

/** Every action the audit trail records. */
export const AUDIT_ACTIONS = [
  "pairing.approve",
  "pairing.approve_failed",
  "pairing.reject",
  "pairing.add",
  "pairing.revoke",
  "pairing.expire",
  "node.approve",
  "node.reject",
  "node.claim",
  "node.rotate",
  "node.revoke",
  "node.rename",
  "node.expire",
  "node.invite_create",
  "node.invite_revoke",
  "config.reload",
  "config.reload_failed",
  "import",
] as const;

/** One audited action. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * One audit record (collection `audit`). Holds who did what to whom and when, never a secret: no
 * pairing code, no token, no token hash.
 */
export interface AuditRecord {
  /** When it happened (Unix ms, wall clock). */
  atMs: number;
  action: AuditAction;
  role: AuditRole;
  /** Channel and account of a DM action; "" otherwise. */
  channel: string;
  accountId: string;
  /** The sender id (DM) or node id (node) the action was about; "" when none. */
  subjectId: string;
  /** The node pairing request id of node.approve / node.reject / node.expire; "" otherwise. */
  requestId: string;
  /** How: node approvals "owner" | "auto-loopback" | "invite"; DM grants "pairing-code" | "added" | "import". */
  via: string;
  /** A short, non-secret detail (a node's new name, a reload's outcome, an import summary). */
  detail: string;
}

/** An audit record with its id (its key: time order, then sequence). */
export interface AuditEntry extends AuditRecord {
  id: string;
}

/** What callers pass: the action and whatever applies; time comes from the clock. */
export type AuditInput = Pick<AuditRecord, "action"> & Partial<Omit<AuditRecord, "action" | "atMs">>;

/** Defaults of the retention sweep (config `audit.maxAgeDays`, `audit.maxRecords`). */
export const DEFAULT_AUDIT_MAX_AGE_DAYS = 90;
export const DEFAULT_AUDIT_MAX_RECORDS = 100_000;

/** Filter and paging of {@link AuditLog.list}. */
export interface AuditQuery {
  /** Only records at or after this time (Unix ms); 0 = from the oldest. */
  sinceMs?: number;
  /** Only these actions; empty = every action. */
  actions?: readonly string[];
  /** Only records after this id (paging and following); "" = from `sinceMs`. */
  afterId?: string;
  /** At most this many (1..1000). @default 100 */
  limit?: number;
}

/** Process-wide sequence: records of one millisecond keep the order they were made in. */
let sequence = 0;
const ID_PATTERN = /^\d{16}\.[0-9a-f]{8}\.[0-9a-f]{8}$/;

/**
 * AuditLog builds audit records as write ops, so each use case puts its record into the SAME atomic
 * batch as the change it records (both or neither survive a crash), and lists and sweeps them.
 * Keys are `atMs(16 digits) . sequence(8 hex) . random(8 hex)`: time order, then creation order, and
 * unique across restarts without a read.
 */
export class AuditLog {
  readonly #store: SharedStore;
  readonly #clock: Clock;

  constructor(store: SharedStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** The put op of one new record, for the caller's batch. */
  op(input: AuditInput): WriteOp {
    const atMs = this.#clock.now();
    sequence = (sequence + 1) % 0x1_0000_0000;
    const id = `${ms16(atMs)}.${sequence.toString(16).padStart(8, "0")}.${randomBytes(4).toString("hex")}`;
    const record: AuditRecord = {
      atMs,
      action: input.action,
      role: input.role ?? "owner",
      channel: input.channel ?? "",
      accountId: input.accountId ?? "",
      subjectId: input.subjectId ?? "",
      requestId: input.requestId ?? "",
      via: input.via ?? "",
      detail: input.detail ?? "",
    };
    return put("audit", id, record);
  }

  /**
   * Writes one record on its own, for actions that change nothing else (a missed approve, a config
   * reload). Never throws: a failing store is logged, and the caller's own outcome stands.
   */
  async append(input: AuditInput, log: Logger): Promise<void> {
    try {
      const op = this.op(input);
      await this.#store.transact(recordLockKey("audit", op.key), async (tx) => applyOps(tx, [op]), { durable: false });
    } catch (err) {
      log.warn("audit record not written", { action: input.action, cause: String(err) });
    }
  }

  /**
   * Records in id (time) order matching `query`; `more` says whether another page follows.
   * Throws InvalidArgumentError for a malformed `afterId` or an unknown action.
   */
  async list(query: AuditQuery): Promise<{ records: AuditEntry[]; more: boolean }> {
    const limit = Math.min(1000, Math.max(1, query.limit ?? 100));
    const actions = new Set(query.actions ?? []);
    for (const a of actions) {
      if (!(AUDIT_ACTIONS as readonly string[]).includes(a)) {
        throw new InvalidArgumentError(`unknown audit action "${a}"; one of ${AUDIT_ACTIONS.join(", ")}`, "actions");
      }
    }
    const afterId = query.afterId ?? "";
    if (afterId !== "" && !ID_PATTERN.test(afterId)) throw new InvalidArgumentError("not an audit record id", "page_token");
    const since = ms16(query.sinceMs ?? 0);
    const range = afterId !== "" && afterId >= since ? { gt: afterId } : { gte: since };
    const records: AuditEntry[] = [];
    for await (const [id, r] of this.#store.entries("audit", range)) {
      if (actions.size > 0 && !actions.has(r.action)) continue;
      if (records.length === limit) return { records, more: true };
      records.push({ id, ...r });
    }
    return { records, more: false };
  }

  /**
   * Retention: deletes records older than `maxAgeMs`, then the oldest beyond `maxRecords`, in
   * batches. Returns how many were deleted. Throws UnavailableError when the store fails.
   */
  async sweep(maxAgeMs: number, maxRecords: number): Promise<number> {
    const store = this.#store;
    const audit = { entries: (range: Parameters<SharedStore["entries"]>[1]) => store.entries("audit", range) };
    let deleted = 0;
    const flush = async (ops: WriteOp[]): Promise<void> => {
      if (ops.length === 0) return;
      const batch = [...ops];
      await store.transact(AUDIT_RETENTION_LOCK, async (tx) => applyOps(tx, batch), { durable: false });
      deleted += ops.length;
      ops.length = 0;
    };
    const ops: WriteOp[] = [];
    for await (const [id] of audit.entries({ lt: ms16(this.#clock.now() - maxAgeMs) })) {
      ops.push(del("audit", id));
      if (ops.length >= 500) await flush(ops);
    }
    await flush(ops);
    // Count from the newest end; everything past `maxRecords` goes.
    let seen = 0;
    for await (const [id] of audit.entries({ reverse: true })) {
      if (++seen <= maxRecords) continue;
      ops.push(del("audit", id));
      if (ops.length >= 500) await flush(ops);
    }
    await flush(ops);
    return deleted;
  }
}

/** The lock of audit retention batches (records are append-only otherwise; deleting one twice is harmless). */
const AUDIT_RETENTION_LOCK = "\u0001audit-retention";
