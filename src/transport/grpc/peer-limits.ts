import { createHash } from "node:crypto";
import type { Clock } from "../../domain/clock";
import { ResourceExhaustedError } from "../../domain/errors";
import { peerNetworkOf } from "../../domain/peer-network";

/** The per-peer RPC and stream quotas of the node listener (a subset of `nodes.limits`). */
export interface PeerLimitsOptions {
  rpcPerSecond: number;
  rpcBurst: number;
  awaitStreamsPerRequest: number;
  awaitStreamsPerPeer: number;
  watchStreamsPerSession: number;
  watchStreamsPerPeer: number;
  connectStreamsPerPeer: number;
}

/** Kinds of long-lived stream with their own quotas. */
export type LimitedStream = "AwaitPairing" | "WatchNode";

interface Bucket {
  tokens: number;
  atMono: number;
}

/** Buckets kept before idle (refilled) ones are dropped, and the hard ceiling after which the oldest go. */
const SWEEP_ABOVE = 4096;
const MAX_BUCKETS = 100_000;

/**
 * PeerLimits holds the node listener's per-peer quotas at the edge, keyed by peer network (see
 * peerNetworkOf): a token bucket for the unauthenticated RPCs, and counters of open AwaitPairing and
 * WatchNode streams per peer and per request / session. Every refusal is a ResourceExhaustedError
 * with `retryAfterMs`. Times run on the monotonic clock.
 */
export class PeerLimits {
  readonly #o: PeerLimitsOptions;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();
  readonly #open = new Map<string, number>();
  #sweptAtMono = -Infinity;

  constructor(options: PeerLimitsOptions, clock: Clock) {
    this.#o = options;
    this.#clock = clock;
  }

  /** Takes one token from the bucket of `remoteIp`'s network. Throws ResourceExhaustedError. */
  admit(remoteIp: string): void {
    const peer = peerNetworkOf(remoteIp);
    const now = this.#clock.monotonic();
    const { rpcPerSecond: rate, rpcBurst: burst } = this.#o;
    let b = this.#buckets.get(peer);
    if (b === undefined) {
      if (this.#buckets.size >= SWEEP_ABOVE) this.#sweep(now);
      b = { tokens: burst, atMono: now };
      this.#buckets.set(peer, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.atMono) * rate) / 1000);
      b.atMono = now;
    }
    if (b.tokens < 1) {
      throw new ResourceExhaustedError("too many requests from this address; slow down", {
        retryAfterMs: ((1 - b.tokens) * 1000) / rate,
        logDetail: `rate limit of peer ${peer} (${rate}/s, burst ${burst})`,
      });
    }
    b.tokens -= 1;
  }

  /**
   * Reserves one `kind` stream for `remoteIp`'s network and for `scope` (the request id of an
   * AwaitPairing, the session token of a WatchNode; only its hash is kept). Returns the release
   * function (idempotent). Throws ResourceExhaustedError when either quota is full.
   */
  openStream(kind: LimitedStream, remoteIp: string, scope: string): () => void {
    const peer = peerNetworkOf(remoteIp);
    const [perScope, perPeer] =
      kind === "AwaitPairing"
        ? [this.#o.awaitStreamsPerRequest, this.#o.awaitStreamsPerPeer]
        : [this.#o.watchStreamsPerSession, this.#o.watchStreamsPerPeer];
    const scopeKey = `${kind}\0s\0${createHash("sha256").update(scope).digest("base64")}`;
    const peerKey = `${kind}\0p\0${peer}`;
    const what = kind === "AwaitPairing" ? "request" : "session";
    if ((this.#open.get(scopeKey) ?? 0) >= perScope) {
      throw new ResourceExhaustedError(`too many open ${kind} streams for this ${what} (${perScope}); close one first`, {
        retryAfterMs: 1000,
      });
    }
    if ((this.#open.get(peerKey) ?? 0) >= perPeer) {
      throw new ResourceExhaustedError(`too many open ${kind} streams from this address (${perPeer}); close one first`, {
        retryAfterMs: 1000,
        logDetail: `${kind} stream quota of peer ${peer} used up`,
      });
    }
    return this.#hold(scopeKey, peerKey);
  }

  /**
   * Takes one Connect stream slot of `remoteIp`'s network for as long as the stream is open (proven or
   * not). Returns the release function (idempotent). Throws ResourceExhaustedError when the peer holds
   * `connectStreamsPerPeer` already.
   */
  openConnect(remoteIp: string): () => void {
    const peer = peerNetworkOf(remoteIp);
    const key = `Connect\0p\0${peer}`;
    const max = this.#o.connectStreamsPerPeer;
    if ((this.#open.get(key) ?? 0) >= max) {
      throw new ResourceExhaustedError(`too many open Connect streams from this address (${max}); close one first`, {
        retryAfterMs: 1000,
        logDetail: `Connect stream quota of peer ${peer} used up`,
      });
    }
    return this.#hold(key);
  }

  /** Counts one open stream under each key until the returned (idempotent) release is called. */
  #hold(...keys: string[]): () => void {
    for (const k of keys) this.#bump(k, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) this.#bump(k, -1);
    };
  }

  /** Open streams of `kind` from `remoteIp`'s network (tests, status). */
  openStreams(kind: LimitedStream, remoteIp: string): number {
    return this.#open.get(`${kind}\0p\0${peerNetworkOf(remoteIp)}`) ?? 0;
  }

  #bump(key: string, by: number): void {
    const n = (this.#open.get(key) ?? 0) + by;
    if (n <= 0) this.#open.delete(key);
    else this.#open.set(key, n);
  }

  /** Drops buckets that have refilled (they equal a fresh one); past the ceiling, the oldest go. */
  #sweep(now: number): void {
    if (now - this.#sweptAtMono >= 1000) {
      this.#sweptAtMono = now;
      const { rpcPerSecond: rate, rpcBurst: burst } = this.#o;
      for (const [peer, b] of this.#buckets) if (b.tokens + ((now - b.atMono) * rate) / 1000 >= burst) this.#buckets.delete(peer);
    }
    for (const peer of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_BUCKETS) break;
      this.#buckets.delete(peer);
    }
  }
}
