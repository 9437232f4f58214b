import { randomBytes } from "node:crypto";
import type { Clock } from "./clock";
import { ResourceExhaustedError, UnauthenticatedError } from "./errors";

/** Challenge lifetime, per-node and total bounds. */
export const CHALLENGE_TTL_MS = 60_000;
export const CHALLENGE_NONCE_BYTES = 32;
export const DEFAULT_MAX_CHALLENGES_PER_NODE = 4;
export const DEFAULT_MAX_CHALLENGES = 10_000;

/** Limits of {@link NodeChallenges}. */
export interface NodeChallengesOptions {
  /** @default CHALLENGE_TTL_MS */
  ttlMs?: number;
  /** Outstanding nonces per node; issuing one more evicts that node's oldest. @default 4 */
  maxPerNode?: number;
  /** Outstanding nonces in total; beyond it CreateChallenge fails. @default 10000 */
  maxTotal?: number;
}

interface Entry {
  nodeId: string;
  expiresAtMs: number;
}

/** A freshly issued challenge. */
export interface Challenge {
  nonce: Buffer;
  expiresAtMs: number;
}

/**
 * NodeChallenges keeps the server nonces nodes sign, in memory only: each is issued for one node, lives
 * 60 s and is consumed by the first call that presents it, whatever that call's outcome.
 */
export class NodeChallenges {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxPerNode: number;
  readonly #maxTotal: number;
  /** nonce (hex) -> entry; Map keeps insertion order, so the oldest come first. */
  readonly #byNonce = new Map<string, Entry>();
  /** node id -> its nonces, oldest first. */
  readonly #byNode = new Map<string, string[]>();

  constructor(clock: Clock, options: NodeChallengesOptions = {}) {
    this.#clock = clock;
    this.#ttlMs = options.ttlMs ?? CHALLENGE_TTL_MS;
    this.#maxPerNode = options.maxPerNode ?? DEFAULT_MAX_CHALLENGES_PER_NODE;
    this.#maxTotal = options.maxTotal ?? DEFAULT_MAX_CHALLENGES;
  }

  /**
   * Issues a 32-byte nonce for `nodeId`. Evicts the node's oldest nonce beyond the per-node bound.
   * Throws ResourceExhaustedError when the total bound is reached even after dropping expired nonces.
   */
  issue(nodeId: string): Challenge {
    if (this.#byNonce.size >= this.#maxTotal) this.prune();
    if (this.#byNonce.size >= this.#maxTotal) {
      throw new ResourceExhaustedError("too many outstanding challenges; try again in a minute");
    }
    const list = this.#byNode.get(nodeId) ?? [];
    while (list.length >= this.#maxPerNode) this.#byNonce.delete(list.shift()!);
    const nonce = randomBytes(CHALLENGE_NONCE_BYTES);
    const expiresAtMs = this.#clock.now() + this.#ttlMs;
    const key = nonce.toString("hex");
    this.#byNonce.set(key, { nodeId, expiresAtMs });
    list.push(key);
    this.#byNode.set(nodeId, list);
    return { nonce, expiresAtMs };
  }

  /**
   * Consumes `nonce` for `nodeId`: it is deleted whatever happens next. Throws UnauthenticatedError
   * when it is unknown, already used, expired, or was issued to another node.
   */
  consume(nonce: Uint8Array, nodeId: string): void {
    const key = Buffer.from(nonce).toString("hex");
    const entry = this.#byNonce.get(key);
    if (entry === undefined) throw new UnauthenticatedError("unknown or already used nonce");
    this.#remove(key, entry.nodeId);
    if (entry.nodeId !== nodeId) throw new UnauthenticatedError("nonce was issued to another node");
    if (this.#clock.now() >= entry.expiresAtMs) throw new UnauthenticatedError("nonce expired");
  }

  /** Drops expired nonces; returns how many. */
  prune(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const [key, entry] of this.#byNonce) {
      if (now >= entry.expiresAtMs) {
        this.#remove(key, entry.nodeId);
        n++;
      }
    }
    return n;
  }

  /** Outstanding nonces. */
  get size(): number {
    return this.#byNonce.size;
  }

  #remove(key: string, nodeId: string): void {
    this.#byNonce.delete(key);
    const list = this.#byNode.get(nodeId);
    if (list === undefined) return;
    const i = list.indexOf(key);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byNode.delete(nodeId);
  }
}
