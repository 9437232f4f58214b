import nacl from "tweetnacl";
import { NodeSignPurpose, nodeIdFromPublicKey, nodeSignedPayload, pairRequestDigest } from "../../clients/ts";
import {
  AwaitPairingRequest,
  AwaitPairingResponse,
  CreateChallengeRequest,
  CreateChallengeResponse,
  GetGatewayInfoRequest,
  GetGatewayInfoResponse,
  NodePairingServiceService as S,
  RequestPairingRequest,
  RequestPairingResponse,
} from "../../src/gen/pairgate/v1/node_pairing_service";
import { type RawPeer, type RawResult } from "./raw-peer";
import { NODE_META } from "./test-node";

/** A would-be node speaking through a {@link RawPeer} (so from a chosen local address). */
export class PeerNode {
  readonly keys = nacl.sign.keyPair();
  readonly nodeId = nodeIdFromPublicKey(this.keys.publicKey);

  constructor(
    readonly peer: RawPeer,
    readonly gatewayId: string,
  ) {}

  /** Reads the gateway id over `peer`. */
  static async gatewayIdVia(peer: RawPeer): Promise<string> {
    const r = await peer.unary(S.getGatewayInfo.path, GetGatewayInfoRequest, GetGatewayInfoResponse, {});
    if (r.response === undefined) throw new Error(`GetGatewayInfo failed: ${r.code} ${r.details}`);
    return r.response.gatewayId;
  }

  /** CreateChallenge for `nodeId` (default: this node). */
  challenge(nodeId = this.nodeId): Promise<RawResult & { response: CreateChallengeResponse | undefined }> {
    return this.peer.unary(S.createChallenge.path, CreateChallengeRequest, CreateChallengeResponse, { nodeId, clientNonce: Buffer.alloc(0) });
  }

  /** A signed RequestPairing (challenge first); the challenge's failure is returned as is. */
  async requestPairing(displayName = NODE_META.displayName): Promise<RawResult & { response: RequestPairingResponse | undefined }> {
    const c = await this.challenge();
    if (c.response === undefined) return { ...c, response: undefined };
    const fields = { ...NODE_META, displayName, publicKey: Buffer.from(this.keys.publicKey) };
    const payload = nodeSignedPayload(NodeSignPurpose.pairRequest, this.gatewayId, this.nodeId, c.response.nonce, pairRequestDigest(fields));
    const signature = Buffer.from(nacl.sign.detached(payload, this.keys.secretKey));
    return this.peer.unary(S.requestPairing.path, RequestPairingRequest, RequestPairingResponse, {
      ...fields,
      nonce: c.response.nonce,
      signature,
    });
  }

  /** Opens AwaitPairing for `requestId`; `statuses()` decodes what has arrived so far. */
  awaitPairing(requestId: string): { statuses: () => AwaitPairingResponse["status"][]; done: Promise<RawResult> } {
    const request = AwaitPairingRequest.encode(AwaitPairingRequest.fromPartial({ requestId, nodeId: this.nodeId })).finish();
    const call = this.peer.start(S.awaitPairing.path, request);
    return { statuses: () => call.live.messages.map((m) => AwaitPairingResponse.decode(m).status), done: call.done };
  }
}
