import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { InternalError } from "./errors";

/** The gateway identity as stored in the store's meta sublevel (key {@link GATEWAY_IDENTITY_KEY}). */
export interface StoredGatewayKey {
  version: 1;
  /** The Ed25519 private key, PKCS#8 DER, base64. */
  privateKeyPkcs8: string;
  createdAtMs: number;
}

/** The gateway's public identity. */
export interface GatewayIdentity {
  /** Lowercase hex SHA-256 of `publicKey`. */
  gatewayId: string;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  /** Signs `payload` (pure Ed25519) with the gateway key; used only for gateway proofs (docs/protocol.md §7). */
  sign(payload: Uint8Array): Buffer;
}

/** Meta key under which the daemon keeps the gateway key. */
export const GATEWAY_IDENTITY_KEY = "gateway_identity";

/** Creates a new gateway key (done once, at first start). */
export function newGatewayKey(nowMs: number): StoredGatewayKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  return {
    version: 1,
    privateKeyPkcs8: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    createdAtMs: nowMs,
  };
}

/** Derives the identity (and its signing function) from a stored key. Throws InternalError when the stored value is malformed. */
export function gatewayIdentityOf(stored: unknown): GatewayIdentity {
  const s = stored as Partial<StoredGatewayKey> | undefined;
  if (s?.version !== 1 || typeof s.privateKeyPkcs8 !== "string") {
    throw new InternalError("stored gateway identity is malformed");
  }
  try {
    const key = createPrivateKey({ key: Buffer.from(s.privateKeyPkcs8, "base64"), format: "der", type: "pkcs8" });
    const spki = createPublicKey(key).export({ format: "der", type: "spki" });
    const publicKey = spki.subarray(spki.length - 32);
    return {
      gatewayId: createHash("sha256").update(publicKey).digest("hex"),
      publicKey: Buffer.from(publicKey),
      sign: (payload) => sign(null, payload, key),
    };
  } catch (err) {
    throw new InternalError("stored gateway identity is malformed", { cause: err });
  }
}
