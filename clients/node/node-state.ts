/** The reference node's local state (key seed, pins, token) and the steps every command shares. */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import nacl from "tweetnacl";
import {
  GatewayIdentityError,
  NodeGatewayClient,
  type NodeSignPurposeValue,
  nodeSignedPayload,
  spkiPinOf,
  TlsPinMismatchError,
  type VerifiedGateway,
} from "../ts";


/** What the node keeps on disk (mode 0600). The seed and the token are secrets. */
export interface NodeState {
  version: 1;
  /** Ed25519 private seed (32 bytes, base64). */
  seed: string;
  nodeId: string;
  /** The gateway address used to pair, "host:port". */
  gateway: string;
  /** The pinned gateway id ("" until the first contact). */
  gatewayId: string;
  /** The pinned gateway's raw Ed25519 public key, base64 ("" until the first contact; absent in old files). */
  gatewayPublicKey?: string;
  /** PEM file of the gateway's TLS certificate the pin was first taken from ("" = none). */
  tlsCa: string;
  /**
   * The gateway's TLS key pin, `sha256/<base64>` of its SPKI ("" = plaintext; absent in old files,
   * then derived from `tlsCa`). Every connection must present this key; it survives renewals.
   */
  tlsPin?: string;
  displayName: string;
  platform: string;
  /** The pending request, while waiting for approval. */
  requestId: string;
  /** The node token ("" until claimed). */
  token: string;
}

/** A failure the node CLI reports as its one-line message (exit 1). */
export class NodeCliError extends Error {}

/** The state file: $PAIRGATE_NODE_STATE, else ~/.pairgate-node/state.json. */
export function defaultStatePath(): string {
  return process.env.PAIRGATE_NODE_STATE ?? join(homedir(), ".pairgate-node", "state.json");
}

/** The node's state at `path`, or undefined when there is none yet. Throws on unreadable JSON. */
export function loadState(path: string): NodeState | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as NodeState;
}

/**
 * Writes the state atomically and durably, owner-only: temp file, fsync, rename, fsync of the
 * directory. A token is saved this way before it is ever used, so a crash never loses a token the
 * gateway may already consider used.
 */
export function saveState(path: string, state: NodeState): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** The node's Ed25519 key pair, from the stored seed. */
export function keysOf(state: NodeState): nacl.SignKeyPair {
  return nacl.sign.keyPair.fromSeed(Buffer.from(state.seed, "base64"));
}

/**
 * The gateway client: plaintext, or TLS pinned to the gateway's key. The certificate the gateway
 * presents now is fetched and accepted only if it carries the pinned key; it is then the only root,
 * with host-name checks on (never disabled), and the pin is checked again on the real connection.
 */
export async function clientFor(state: NodeState): Promise<NodeGatewayClient> {
  const pin = state.tlsPin !== undefined && state.tlsPin !== "" ? state.tlsPin : state.tlsCa !== "" ? spkiPinOf(readFileSync(state.tlsCa)) : "";
  if (pin === "") return new NodeGatewayClient({ address: state.gateway });
  try {
    return await NodeGatewayClient.connectPinned({ address: state.gateway, tlsPin: pin });
  } catch (err) {
    if (err instanceof TlsPinMismatchError) {
      throw new NodeCliError(`${err.message}. Refusing to connect: this may be an impostor (or the gateway's TLS key was replaced; then pair again with the new pin from: pairgate nodes tls).`);
    }
    throw err;
  }
}

/** Signs one protocol payload with the node key. */
export function sign(state: NodeState, purpose: NodeSignPurposeValue, nonce: Uint8Array, body: Uint8Array): Uint8Array {
  const payload = nodeSignedPayload(purpose, state.gatewayId, state.nodeId, nonce, body);
  return nacl.sign.detached(payload, keysOf(state).secretKey);
}

/**
 * Step 0 of every conversation: the gateway proves it holds the key of the pinned gateway id, over a
 * fresh nonce of ours (trust on first use: the first contact pins id and key). Every challenge after
 * that is checked against the pinned key (client.createChallenge(nodeId, gateway)) before we sign it.
 */
export async function pinGateway(client: NodeGatewayClient, state: NodeState, statePath: string): Promise<VerifiedGateway> {
  let gateway: VerifiedGateway;
  try {
    gateway = await client.proveGateway(state.gatewayId === "" ? undefined : { gatewayId: state.gatewayId });
  } catch (err) {
    if (err instanceof GatewayIdentityError) {
      throw new NodeCliError(
        `${err.message} (${state.gateway}). Refusing to continue: this may be an impostor. ` +
          "Nothing was sent and the credentials are kept; if the gateway was really reinstalled, delete the state file and pair again.",
      );
    }
    throw err;
  }
  const publicKey = Buffer.from(gateway.publicKey).toString("base64");
  if (state.gatewayId === "" || state.gatewayPublicKey !== publicKey) {
    state.gatewayId = gateway.gatewayId;
    state.gatewayPublicKey = publicKey;
    saveState(statePath, state);
  }
  return gateway;
}
