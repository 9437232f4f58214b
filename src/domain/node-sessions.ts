import { createHash, randomBytes } from "node:crypto";
import { type Clock, wallTimeOf } from "./clock";
import { UnauthenticatedError } from "./errors";
import type { NodeRecord } from "./node-records";
import { recordLockKey, type SharedStore } from "./shared-store";

/** Session lifetime and the most sessions one node may hold at once. */
export const SESSION_TTL_MS = 15 * 60_000;
export const MAX_SESSIONS_PER_NODE = 8;
/** Prefix of session tokens ("pairgate session"). */
export const SESSION_TOKEN_PREFIX = "pgs_";

/** A live session as the engine sees it. */
export interface NodeSession {
  nodeId: string;
  /** Monotonic time at which the session ends (see Clock.monotonic). */
  dueMono: number;
}

/**
 * Where node sessions live: in memory when the daemon is its store's only user ({@link NodeSessions}),
 * in the store when several daemons share it ({@link StoreSessions}), so a session opened at one
 * daemon works at every other.
 */
export interface SessionTable {
  /** Opens a session for `node` (evicting its oldest beyond the bound); returns the token once. Throws UnavailableError. */
  issue(node: NodeRecord): Promise<{ token: string; expiresAtMs: number }>;
  /** The session of `token`. Throws UnauthenticatedError for an unknown, ended or expired session, UnavailableError. */
  check(token: string): Promise<NodeSession>;
  /** The wall-clock expiry of `session` as seen now. */
  expiresAtMs(session: NodeSession): number;
  /** Ends the sessions of `nodeId` this daemon holds in memory (revocation, repair). */
  endNode(nodeId: string): void;
  /** Live sessions of `nodeId` opened by this daemon. */
  count(nodeId: string): number;
  /** Drops expired sessions. Throws UnavailableError. */
  prune(): Promise<void>;
}

/**
 * NodeSessions holds node sessions in memory (a daemon restart ends them all); lifetimes run on the
 * monotonic clock, so a wall-clock step neither ends nor extends them. Tokens are 32 random
 * bytes, kept only as SHA-256; a lookup hashes the presented token first.
 */
export class NodeSessions implements SessionTable {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #byHash = new Map<string, NodeSession>();
  readonly #byNode = new Map<string, string[]>();

  constructor(clock: Clock, ttlMs = SESSION_TTL_MS) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** The wall-clock expiry of `session` as seen now. */
  expiresAtMs(session: NodeSession): number {
    return wallTimeOf(this.#clock, session.dueMono);
  }

  async issue(node: NodeRecord): Promise<{ token: string; expiresAtMs: number }> {
    return this.issueSync(node.nodeId);
  }

  async check(token: string): Promise<NodeSession> {
    return this.checkSync(token);
  }

  async prune(): Promise<void> {
    this.pruneSync();
  }

  /** Opens a session for `nodeId` (evicting its oldest beyond the bound); returns the token once. */
  issueSync(nodeId: string): { token: string; expiresAtMs: number } {
    const token = SESSION_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const hash = sha256(token);
    const dueMono = this.#clock.monotonic() + this.#ttlMs;
    const list = (this.#byNode.get(nodeId) ?? []).filter((h) => this.#live(h));
    while (list.length >= MAX_SESSIONS_PER_NODE) this.#byHash.delete(list.shift()!);
    list.push(hash);
    this.#byNode.set(nodeId, list);
    this.#byHash.set(hash, { nodeId, dueMono });
    return { token, expiresAtMs: wallTimeOf(this.#clock, dueMono) };
  }

  /** The session of `token`. Throws UnauthenticatedError for an unknown, ended or expired session. */
  checkSync(token: string): NodeSession {
    const hash = sha256(token);
    const session = this.#byHash.get(hash);
    if (session === undefined) throw new UnauthenticatedError("unknown or ended session");
    if (this.#clock.monotonic() >= session.dueMono) {
      this.#byHash.delete(hash);
      throw new UnauthenticatedError("session expired");
    }
    return session;
  }

  /** Ends every session of `nodeId`; returns how many were live. */
  endNode(nodeId: string): number {
    const list = this.#byNode.get(nodeId) ?? [];
    this.#byNode.delete(nodeId);
    let n = 0;
    for (const h of list) if (this.#byHash.delete(h)) n++;
    return n;
  }

  /** Live sessions of `nodeId`. */
  count(nodeId: string): number {
    return (this.#byNode.get(nodeId) ?? []).filter((h) => this.#live(h)).length;
  }

  /** Drops expired sessions. */
  pruneSync(): void {
    const now = this.#clock.monotonic();
    for (const [hash, s] of this.#byHash) if (now >= s.dueMono) this.#byHash.delete(hash);
    for (const [nodeId, list] of this.#byNode) {
      const live = list.filter((h) => this.#byHash.has(h));
      if (live.length === 0) this.#byNode.delete(nodeId);
      else this.#byNode.set(nodeId, live);
    }
  }

  #live(hash: string): boolean {
    const s = this.#byHash.get(hash);
    return s !== undefined && this.#clock.monotonic() < s.dueMono;
  }
}

/** A session as the shared store keeps it, by SHA-256 of its token. */
export interface StoredSession {
  nodeId: string;
  /** Wall-clock end (persisted expiries are wall-clock; see Clock). */
  expiresAtMs: number;
  /** The node's `approvedAtMs` when the session opened: a repair (new approval) ends the session. */
  approvedAtMs: number;
}

/**
 * StoreSessions keeps sessions in the shared store (collection `nodeSessions`, each with its expiry),
 * so every daemon sharing the store accepts them. `check` reads the session and the node on every
 * call (never cached): a revoked node (record gone) or a repaired one (new `approvedAtMs`) fails at
 * once on every daemon. The per-node bound is kept per daemon (its own sessions).
 */
export class StoreSessions implements SessionTable {
  readonly #store: SharedStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** This daemon's sessions per node, oldest first: token hash and wall-clock end. */
  readonly #mine = new Map<string, Array<{ hash: string; expiresAtMs: number }>>();

  constructor(store: SharedStore, clock: Clock, ttlMs = SESSION_TTL_MS) {
    this.#store = store;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  expiresAtMs(session: NodeSession): number {
    return wallTimeOf(this.#clock, session.dueMono);
  }

  async issue(node: NodeRecord): Promise<{ token: string; expiresAtMs: number }> {
    const token = SESSION_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const hash = sha256(token);
    const now = this.#clock.now();
    const expiresAtMs = now + this.#ttlMs;
    const list = (this.#mine.get(node.nodeId) ?? []).filter((s) => s.expiresAtMs > now);
    const evicted = list.length >= MAX_SESSIONS_PER_NODE ? list.splice(0, list.length - MAX_SESSIONS_PER_NODE + 1) : [];
    const record: StoredSession = { nodeId: node.nodeId, expiresAtMs, approvedAtMs: node.approvedAtMs };
    await this.#store.transact(recordLockKey("nodeSessions", hash), async (tx) => {
      for (const e of evicted) tx.del("nodeSessions", e.hash);
      tx.put("nodeSessions", hash, record, { expiresAtMs });
    });
    list.push({ hash, expiresAtMs });
    this.#mine.set(node.nodeId, list);
    return { token, expiresAtMs };
  }

  async check(token: string): Promise<NodeSession> {
    const hash = sha256(token);
    const session = await this.#store.get("nodeSessions", hash);
    if (session === undefined) throw new UnauthenticatedError("unknown or ended session");
    const now = this.#clock.now();
    if (now >= session.expiresAtMs) throw new UnauthenticatedError("session expired");
    const node = await this.#store.get("nodes", session.nodeId);
    if (node === undefined || node.approvedAtMs !== session.approvedAtMs) throw new UnauthenticatedError("unknown or ended session");
    return { nodeId: session.nodeId, dueMono: this.#clock.monotonic() + (session.expiresAtMs - now) };
  }

  endNode(nodeId: string): void {
    // The stored sessions end by themselves: check() refuses them once the node is gone or re-paired.
    this.#mine.delete(nodeId);
  }

  count(nodeId: string): number {
    const now = this.#clock.now();
    return (this.#mine.get(nodeId) ?? []).filter((s) => s.expiresAtMs > now).length;
  }

  async prune(): Promise<void> {
    const now = this.#clock.now();
    for (const [nodeId, list] of this.#mine) {
      const live = list.filter((s) => s.expiresAtMs > now);
      if (live.length === 0) this.#mine.delete(nodeId);
      else this.#mine.set(nodeId, live);
    }
    await this.#store.sweep("nodeSessions", now, 1000);
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}
