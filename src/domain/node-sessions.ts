import { createHash, randomBytes } from "node:crypto";
import type { Clock } from "./clock";
import { UnauthenticatedError } from "./errors";

/** Session lifetime and the most sessions one node may hold at once. */
export const SESSION_TTL_MS = 15 * 60_000;
export const MAX_SESSIONS_PER_NODE = 8;
/** Prefix of session tokens ("pairgate session"). */
export const SESSION_TOKEN_PREFIX = "pgs_";

/** A live session as the engine sees it. */
export interface NodeSession {
  nodeId: string;
  expiresAtMs: number;
}

/**
 * NodeSessions holds node sessions in memory (a daemon restart ends them all). Tokens are 32 random
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

  /** Opens a session for `nodeId` (evicting its oldest beyond the bound); returns the token once. */
  issue(nodeId: string): { token: string; expiresAtMs: number } {
    const token = SESSION_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const hash = sha256(token);
    const expiresAtMs = this.#clock.now() + this.#ttlMs;
    const list = (this.#byNode.get(nodeId) ?? []).filter((h) => this.#live(h));
    while (list.length >= MAX_SESSIONS_PER_NODE) this.#byHash.delete(list.shift()!);
    list.push(hash);
    this.#byNode.set(nodeId, list);
    this.#byHash.set(hash, { nodeId, expiresAtMs });
    return { token, expiresAtMs };
  }

  /** The session of `token`. Throws UnauthenticatedError for an unknown, ended or expired session. */
  check(token: string): NodeSession {
    const hash = sha256(token);
    const session = this.#byHash.get(hash);
    if (session === undefined) throw new UnauthenticatedError("unknown or ended session");
    if (this.#clock.now() >= session.expiresAtMs) {
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
    const now = this.#clock.now();
    for (const [hash, s] of this.#byHash) if (now >= s.expiresAtMs) this.#byHash.delete(hash);
    for (const [nodeId, list] of this.#byNode) {
      const live = list.filter((h) => this.#byHash.has(h));
      if (live.length === 0) this.#byNode.delete(nodeId);
      else this.#byNode.set(nodeId, live);
    }
  }

  #live(hash: string): boolean {
    const s = this.#byHash.get(hash);
    return s !== undefined && this.#clock.now() < s.expiresAtMs;
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}
