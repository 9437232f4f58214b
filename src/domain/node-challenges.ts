import { randomBytes } from "node:crypto";
import { type Clock, wallTimeOf } from "./clock";
import { ResourceExhaustedError, UnauthenticatedError } from "./errors";
import { recordLockKey, type SharedStore } from "./shared-store";

/** Challenge lifetime and default bounds (each is a `nodes.limits` config key). */
export const CHALLENGE_TTL_MS = 60_000;
export const CHALLENGE_NONCE_BYTES = 32;
export const DEFAULT_CHALLENGES_PER_NODE_PER_PEER = 4;
export const DEFAULT_CHALLENGES_PER_PEER = 64;
export const DEFAULT_CHALLENGES_PAIRED = 10_000;
export const DEFAULT_CHALLENGES_UNKNOWN = 10_000;

/** Limits of {@link NodeChallenges}. */
export interface NodeChallengesOptions {
  /** @default CHALLENGE_TTL_MS */
  ttlMs?: number;
  /** Outstanding nonces per (node id, peer); one more evicts that pair's own oldest. @default 4 */
  perNodePerPeer?: number;
  /** Outstanding nonces per peer network, all node ids together; beyond it: refused. @default 64 */
  perPeer?: number;
  /** Pool of nonces for paired node ids. @default 10000 */
  paired?: number;
  /** Pool of nonces for node ids that are not paired (new nodes asking to pair). @default 10000 */
  unknown?: number;
}

interface Entry {
  nodeId: string;
  peer: string;
  pool: Pool;
  /** Monotonic time at which the nonce expires. */
  dueMono: number;
}

/** A freshly issued challenge. */
export interface Challenge {
  nonce: Buffer;
  /** Wall-clock expiry as seen at issue time (the lifetime itself runs on the monotonic clock). */
  expiresAtMs: number;
}

/**
 * One pool of outstanding nonces: insertion order (= expiry order, the TTL being constant) and, per
 * peer, its nonces, with the busiest peer found in O(1) so a full pool can make it yield.
 */
class Pool {
  /** Every nonce of the pool, oldest first. */
  readonly keys = new Set<string>();
  readonly #byPeer = new Map<string, Set<string>>();
  /** #buckets[n] = peers holding exactly n nonces of this pool. */
  readonly #buckets: Array<Set<string>> = [];
  #max = 0;

  constructor(
    readonly name: string,
    readonly limit: number,
  ) {}

  add(peer: string, key: string): void {
    let mine = this.#byPeer.get(peer);
    if (mine === undefined) this.#byPeer.set(peer, (mine = new Set()));
    this.#move(peer, mine.size, mine.size + 1);
    mine.add(key);
    this.keys.add(key);
  }

  remove(peer: string, key: string): void {
    const mine = this.#byPeer.get(peer);
    if (mine === undefined || !mine.delete(key)) return;
    this.keys.delete(key);
    this.#move(peer, mine.size + 1, mine.size);
    if (mine.size === 0) this.#byPeer.delete(peer);
  }

  count(peer: string): number {
    return this.#byPeer.get(peer)?.size ?? 0;
  }

  /** The oldest nonce of the peer holding the most nonces here, with that count. */
  busiest(): { key: string; count: number } | undefined {
    if (this.#max === 0) return undefined;
    const peer = this.#buckets[this.#max]!.values().next().value as string;
    return { key: this.#byPeer.get(peer)!.values().next().value as string, count: this.#max };
  }

  #move(peer: string, from: number, to: number): void {
    if (from > 0) this.#buckets[from]!.delete(peer);
    if (to > 0) (this.#buckets[to] ??= new Set()).add(peer);
    if (to > this.#max) this.#max = to;
    while (this.#max > 0 && (this.#buckets[this.#max]?.size ?? 0) === 0) this.#max--;
  }
}

/**
 * NodeChallenges keeps the server nonces nodes sign, in memory only: each is issued for one node id
 * to one peer network, lives 60 s on the monotonic clock and is consumed by the first call that
 * presents it, whatever that call's outcome.
 *
 * Bounds, so that nobody can spend another's share:
 * - per (node id, peer): 4 outstanding; a 5th evicts **that pair's own** oldest. Challenges someone
 *   else requests for a node's (public) id never evict the node's nonce.
 * - per peer: 64 outstanding over all ids; beyond that the peer is refused until its oldest expires.
 * - two pools: nonces for paired node ids and for unknown ids are counted apart, so a flood of
 *   random ids cannot cost a paired node its login. When a pool is full, the peer holding the most
 *   nonces in it yields its oldest, if it holds at least two more than the requester; otherwise the
 *   request is refused (RESOURCE_EXHAUSTED with the time until a slot frees).
 */
export class NodeChallenges {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #perNodePerPeer: number;
  readonly #perPeer: number;
  readonly #paired: Pool;
  readonly #unknown: Pool;
  readonly #byNonce = new Map<string, Entry>();
  /** peer -> its nonces (both pools), oldest first. */
  readonly #byPeer = new Map<string, Set<string>>();
  /** node id NUL peer -> that pair's nonces, oldest first. */
  readonly #byNodePeer = new Map<string, Set<string>>();

  constructor(clock: Clock, options: NodeChallengesOptions = {}) {
    this.#clock = clock;
    this.#ttlMs = options.ttlMs ?? CHALLENGE_TTL_MS;
    this.#perNodePerPeer = options.perNodePerPeer ?? DEFAULT_CHALLENGES_PER_NODE_PER_PEER;
    this.#perPeer = options.perPeer ?? DEFAULT_CHALLENGES_PER_PEER;
    this.#paired = new Pool("paired", options.paired ?? DEFAULT_CHALLENGES_PAIRED);
    this.#unknown = new Pool("unknown", options.unknown ?? DEFAULT_CHALLENGES_UNKNOWN);
  }

  /**
   * Issues a 32-byte nonce for `nodeId` to `peer` (its network, see peerNetworkOf) from the paired or
   * the unknown pool. Throws ResourceExhaustedError (with `retryAfterMs`) when the peer's quota or
   * the pool is used up.
   */
  issue(nodeId: string, peer: string, paired: boolean, evicted?: string[]): Challenge {
    const now = this.#clock.monotonic();
    const pool = paired ? this.#paired : this.#unknown;
    const pair = this.#byNodePeer.get(nodeId + "\0" + peer);
    while (pair !== undefined && pair.size >= this.#perNodePerPeer) {
      const oldest = first(pair)!;
      evicted?.push(oldest);
      this.#remove(oldest);
    }

    const mine = this.#byPeer.get(peer);
    if (mine !== undefined && mine.size >= this.#perPeer) {
      this.#pruneFrom(mine, now);
      if (mine.size >= this.#perPeer) {
        throw new ResourceExhaustedError("too many outstanding challenges from this address; retry later", {
          retryAfterMs: this.#dueOf(first(mine)!) - now,
          logDetail: `challenge quota of peer ${peer} used up (${this.#perPeer})`,
        });
      }
    }
    if (pool.keys.size >= pool.limit) {
      this.#pruneFrom(pool.keys, now);
      if (pool.keys.size >= pool.limit) {
        const yielded = this.#yieldOrRefuse(pool, peer, now);
        evicted?.push(yielded);
      }
    }

    const nonce = randomBytes(CHALLENGE_NONCE_BYTES);
    const key = nonce.toString("hex");
    this.#byNonce.set(key, { nodeId, peer, pool, dueMono: now + this.#ttlMs });
    pool.add(peer, key);
    setOf(this.#byPeer, peer).add(key);
    setOf(this.#byNodePeer, nodeId + "\0" + peer).add(key);
    return { nonce, expiresAtMs: wallTimeOf(this.#clock, now + this.#ttlMs) };
  }

  /**
   * Consumes `nonce` for `nodeId`: it is deleted whatever happens next. Throws UnauthenticatedError
   * when it is unknown (never issued, used, evicted), expired, or was issued to another node.
   */
  consume(nonce: Uint8Array, nodeId: string): void {
    const key = Buffer.from(nonce).toString("hex");
    const entry = this.#byNonce.get(key);
    if (entry === undefined) throw new UnauthenticatedError("unknown, already used or evicted nonce");
    this.#remove(key);
    if (entry.nodeId !== nodeId) throw new UnauthenticatedError("nonce was issued to another node");
    if (this.#clock.monotonic() >= entry.dueMono) throw new UnauthenticatedError("nonce expired");
  }

  /** Drops expired nonces; returns how many. */
  prune(): number {
    const before = this.#byNonce.size;
    const now = this.#clock.monotonic();
    this.#pruneFrom(this.#paired.keys, now);
    this.#pruneFrom(this.#unknown.keys, now);
    return before - this.#byNonce.size;
  }

  /** Outstanding nonces. */
  get size(): number {
    return this.#byNonce.size;
  }

  /**
   * Removes `nonceHex` without judging it (another daemon sharing the store consumes it, or its store
   * write failed) and returns for whom it was issued and when it ends, if this table held it.
   */
  release(nonceHex: string): { nodeId: string; dueMono: number } | undefined {
    const entry = this.#byNonce.get(nonceHex);
    if (entry === undefined) return undefined;
    this.#remove(nonceHex);
    return { nodeId: entry.nodeId, dueMono: entry.dueMono };
  }

  /** A full pool: the busiest peer yields its oldest nonce (returned) if that is fairer, else the caller waits. */
  #yieldOrRefuse(pool: Pool, peer: string, now: number): string {
    const busiest = pool.busiest();
    if (busiest !== undefined && busiest.count >= 2 && busiest.count > pool.count(peer) + 1) {
      this.#remove(busiest.key);
      return busiest.key;
    }
    throw new ResourceExhaustedError("too many outstanding challenges; retry later", {
      retryAfterMs: this.#dueOf(first(pool.keys)!) - now,
      logDetail: `${pool.name} challenge pool full (${pool.limit})`,
    });
  }

  /** Removes expired nonces from the front of an oldest-first set (stops at the first live one). */
  #pruneFrom(keys: Set<string>, now: number): void {
    for (const key of keys) {
      if (this.#dueOf(key) > now) return;
      this.#remove(key);
    }
  }

  #dueOf(key: string): number {
    return this.#byNonce.get(key)?.dueMono ?? 0;
  }

  #remove(key: string): void {
    const e = this.#byNonce.get(key);
    if (e === undefined) return;
    this.#byNonce.delete(key);
    e.pool.remove(e.peer, key);
    deleteFrom(this.#byPeer, e.peer, key);
    deleteFrom(this.#byNodePeer, e.nodeId + "\0" + e.peer, key);
  }
}

/**
 * Where the use cases get and spend nonces: {@link NodeChallenges} alone when the daemon is its
 * store's only user, {@link StoreChallenges} when several daemons share the store.
 */
export interface ChallengeTable {
  /** See NodeChallenges.issue. Throws ResourceExhaustedError, UnavailableError. */
  issue(nodeId: string, peer: string, paired: boolean): Promise<Challenge>;
  /** See NodeChallenges.consume. Throws UnauthenticatedError, UnavailableError. */
  consume(nonce: Uint8Array, nodeId: string): Promise<void>;
  /** Drops expired nonces. Throws UnavailableError. */
  prune(): Promise<void>;
  /** Outstanding nonces this daemon issued. */
  readonly size: number;
}

/** The in-memory table as a {@link ChallengeTable} (the embedded store). */
export class MemoryChallenges implements ChallengeTable {
  constructor(readonly local: NodeChallenges) {}

  async issue(nodeId: string, peer: string, paired: boolean): Promise<Challenge> {
    return this.local.issue(nodeId, peer, paired);
  }

  async consume(nonce: Uint8Array, nodeId: string): Promise<void> {
    this.local.consume(nonce, nodeId);
  }

  async prune(): Promise<void> {
    this.local.prune();
  }

  get size(): number {
    return this.local.size;
  }
}

/**
 * Nonces for several daemons over one store: this daemon's quotas and pools stay in memory (limits
 * are per listener), and each nonce is also stored (collection `nodeChallenges`, with its expiry) so
 * that any daemon can consume it, exactly once (`take`). Nonces evicted here are deleted from the
 * store in the same transaction that stores the new one.
 */
export class StoreChallenges implements ChallengeTable {
  constructor(
    readonly local: NodeChallenges,
    readonly store: SharedStore,
    readonly clock: Clock,
  ) {}

  async issue(nodeId: string, peer: string, paired: boolean): Promise<Challenge> {
    const evicted: string[] = [];
    let challenge: Challenge;
    try {
      challenge = this.local.issue(nodeId, peer, paired, evicted);
    } catch (err) {
      // Refused after evicting: the evicted nonces must not stay valid at other daemons.
      for (const old of evicted) await this.store.take("nodeChallenges", old);
      throw err;
    }
    const key = challenge.nonce.toString("hex");
    try {
      await this.store.transact(recordLockKey("nodeChallenges", key), async (tx) => {
        for (const old of evicted) tx.del("nodeChallenges", old);
        tx.put("nodeChallenges", key, { nodeId, expiresAtMs: challenge.expiresAtMs }, { expiresAtMs: challenge.expiresAtMs });
      });
    } catch (err) {
      this.local.release(key);
      throw err;
    }
    return challenge;
  }

  async consume(nonce: Uint8Array, nodeId: string): Promise<void> {
    const key = Buffer.from(nonce).toString("hex");
    const mine = this.local.release(key);
    const taken = await this.store.take("nodeChallenges", key);
    if (taken === undefined) throw new UnauthenticatedError("unknown, already used or evicted nonce");
    if (taken.value.nodeId !== nodeId) throw new UnauthenticatedError("nonce was issued to another node");
    // Issued here: its lifetime runs on this daemon's monotonic clock; else on the stored wall-clock end.
    const expired = mine !== undefined ? this.clock.monotonic() >= mine.dueMono : this.clock.now() >= taken.value.expiresAtMs;
    if (expired) throw new UnauthenticatedError("nonce expired");
  }

  async prune(): Promise<void> {
    this.local.prune();
    await this.store.sweep("nodeChallenges", this.clock.now(), 1000);
  }

  get size(): number {
    return this.local.size;
  }
}

function first(s: Set<string>): string | undefined {
  return s.values().next().value;
}

function setOf(map: Map<string, Set<string>>, k: string): Set<string> {
  let s = map.get(k);
  if (s === undefined) map.set(k, (s = new Set()));
  return s;
}

function deleteFrom(map: Map<string, Set<string>>, k: string, key: string): void {
  const s = map.get(k);
  if (s === undefined) return;
  s.delete(key);
  if (s.size === 0) map.delete(k);
}
