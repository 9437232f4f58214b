import nacl from "tweetnacl";
import {
  type NodeConnection,
  NodeGatewayClient,
  NodeSignPurpose,
  type NodeSignPurposeValue,
  nodeIdFromPublicKey,
  nodeSignedPayload,
  pairRequestDigest,
  tokenDigest,
} from "../../clients/ts";
import type { TestDaemon } from "./test-daemon";

/** The metadata a test node sends with RequestPairing. */
export const NODE_META = {
  displayName: "Pixel 8",
  platform: "android",
  version: "1.2.3",
  deviceFamily: "phone",
  modelIdentifier: "Pixel8,1",
  caps: ["camera", "location"],
};

/**
 * A node as tests drive it: a tweetnacl key, the real NodeGatewayClient over TCP, and helpers that sign
 * exactly what the protocol says (or, for attack tests, something else).
 */
export class TestNode {
  readonly keys: nacl.SignKeyPair;
  readonly nodeId: string;
  readonly client: NodeGatewayClient;
  gatewayId = "";
  token = "";
  sessionToken = "";

  constructor(address: string, seed?: Uint8Array) {
    this.keys = seed === undefined ? nacl.sign.keyPair() : nacl.sign.keyPair.fromSeed(seed);
    this.nodeId = nodeIdFromPublicKey(this.keys.publicKey);
    this.client = new NodeGatewayClient({ address });
  }

  /** Reads and remembers the gateway id. */
  async init(): Promise<this> {
    this.gatewayId = (await this.client.getGatewayInfo()).gatewayId;
    return this;
  }

  /** A fresh nonce for this node (or for `nodeId`). */
  async nonce(nodeId = this.nodeId): Promise<Buffer> {
    return (await this.client.createChallenge(nodeId)).nonce;
  }

  /** Signs a payload with this node's key. */
  sign(purpose: NodeSignPurposeValue, nonce: Uint8Array, body: Uint8Array, nodeId = this.nodeId): Uint8Array {
    return nacl.sign.detached(nodeSignedPayload(purpose, this.gatewayId, nodeId, nonce, body), this.keys.secretKey);
  }

  /** Signed RequestPairing fields for `meta` (the signature covers exactly these fields). */
  async pairingRequest(meta: Partial<typeof NODE_META> = {}, nonce?: Buffer) {
    const fields = { ...NODE_META, ...meta, publicKey: Buffer.from(this.keys.publicKey) };
    const n = nonce ?? (await this.nonce());
    const signature = Buffer.from(this.sign(NodeSignPurpose.pairRequest, n, pairRequestDigest(fields)));
    return { ...fields, nonce: n, signature };
  }

  /** Sends a signed RequestPairing. */
  async requestPairing(meta: Partial<typeof NODE_META> = {}) {
    return this.client.requestPairing(await this.pairingRequest(meta));
  }

  /** Claims the token with a fresh, correctly signed nonce; remembers it. */
  async claim(): Promise<string> {
    const n = await this.nonce();
    this.token = (await this.client.claimToken(this.nodeId, n, this.sign(NodeSignPurpose.claim, n, new Uint8Array()))).token;
    return this.token;
  }

  /** Authenticates with a fresh nonce and `token`; remembers the session. */
  async authenticate(token = this.token): Promise<string> {
    const n = await this.nonce();
    const res = await this.client.authenticate(this.nodeId, n, this.sign(NodeSignPurpose.connect, n, tokenDigest(token)), token);
    this.sessionToken = res.sessionToken;
    return res.sessionToken;
  }

  /** Rotates the token over the current session; remembers the new token. */
  async rotate(): Promise<string> {
    const n = await this.nonce();
    const sig = this.sign(NodeSignPurpose.rotate, n, tokenDigest(this.sessionToken));
    this.token = (await this.client.rotateToken(this.sessionToken, n, sig)).token;
    return this.token;
  }

  /** Opens a Connect session with `token` (the gateway proven over a fresh client nonce first). */
  async connect(token = this.token): Promise<NodeConnection> {
    const gateway = await this.client.proveGateway({ gatewayId: this.gatewayId });
    const c = await this.client.connect(this.nodeId, gateway, (challenge) => ({
      signature: this.sign(NodeSignPurpose.connect, challenge.nonce, tokenDigest(token)),
      token,
    }));
    this.sessionToken = c.session.sessionToken;
    return c;
  }

  close(): void {
    this.client.close();
  }
}

/** A node run through request -> owner approval -> claim -> authenticate against `t` (from 127.0.0.1). */
export async function pairedTestNode(t: TestDaemon): Promise<TestNode> {
  const node = await new TestNode(t.daemon.nodeAddress).init();
  const req = await node.requestPairing();
  await t.client.nodeAdmin.approveNode(req.requestId);
  await node.claim();
  await node.authenticate();
  return node;
}
