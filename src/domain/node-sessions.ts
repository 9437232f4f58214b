import { createHash, randomBytes } from "node:crypto";
import { type Clock, wallTimeOf } from "./clock";
import { UnauthenticatedError } from "./errors";

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
 * NodeSessions holds node sessions in memory (a daemon restart ends them all); lifetimes run on the
 * monotonic clock, so a wall-clock step neither ends nor extends them. Tokens are 32 random
 * bytes, kept only as SHA-256; a lookup hashes the presented token first.
 */
export class NodeSessions {
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

  /** Opens a session for `nodeId` (evicting its oldest beyond the bound); returns the token once. */
  issue(nodeId: string): { token: string; expiresAtMs: number } {
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
  check(token: string): NodeSession {
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
  prune(): void {
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

function sha256(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}
