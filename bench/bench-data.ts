import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

/**
 * Deterministic bench data shared by the bulk loader (server side) and the load generator (client
 * side): both derive the same senders, node keys and node tokens from an index, so nothing secret
 * has to be passed between processes.
 */

/** How preloaded senders are spread over channels (weights sum to 1); ids are valid for each channel. */
export const SENDER_CHANNELS: ReadonlyArray<{ channel: string; share: number; senderId: (i: number) => string }> = [
  { channel: "telegram", share: 0.4, senderId: (i) => String(100_000_000 + i) },
  { channel: "discord", share: 0.3, senderId: (i) => String(300_000_000_000_000_000n + BigInt(i)) },
  { channel: "whatsapp", share: 0.2, senderId: (i) => "+1555" + String(i).padStart(7, "0") },
  { channel: "slack", share: 0.1, senderId: (i) => "U" + String(i).padStart(9, "0") },
];

/** One preloaded approved sender. */
export interface BenchSender {
  channel: string;
  senderId: string;
}

/** How many of `total` senders channel number `c` gets (the last channel takes the rounding rest). */
export function sendersOfChannel(total: number, c: number): number {
  if (c === SENDER_CHANNELS.length - 1) {
    let used = 0;
    for (let k = 0; k < c; k++) used += sendersOfChannel(total, k);
    return total - used;
  }
  return Math.floor(total * SENDER_CHANNELS[c]!.share);
}

/** The `i`-th of `total` preloaded senders (0 <= i < total), in loader order. */
export function benchSender(total: number, i: number): BenchSender {
  let rest = i;
  for (let c = 0; c < SENDER_CHANNELS.length; c++) {
    const n = sendersOfChannel(total, c);
    const spec = SENDER_CHANNELS[c]!;
    if (rest < n) return { channel: spec.channel, senderId: spec.senderId(rest) };
    rest -= n;
  }
  throw new RangeError(`sender ${i} is outside 0..${total - 1}`);
}

/** A bench node: its key pair, id and token, all derived from its index. */
export interface BenchNode {
  index: number;
  nodeId: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  privateKey: KeyObject;
  /** The node token (as ClaimToken would have returned it). */
  token: string;
}

/** Derives bench node number `index` (seed = SHA-256 of a fixed label and the index). */
export function benchNode(index: number): BenchNode {
  const seed = createHash("sha256").update(`pairgate-bench-node-${index}`).digest();
  // A JWK import takes ~30 µs; the PKCS#8 DER form takes ~350 µs (OpenSSL's decoder), which made
  // preloading 100k nodes take 40 s. node:crypto derives the public key from `d` and ignores `x` here.
  const privateKey = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: seed.toString("base64url"), x: "" }, format: "jwk" });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x ?? "", "base64url");
  const nodeId = createHash("sha256").update(publicKey).digest("hex");
  const token = "pgn_" + createHash("sha256").update(`pairgate-bench-token-${index}`).digest("base64url");
  return { index, nodeId, publicKey, privateKey, token };
}
