import { type ChannelCredentials, type Client, credentials, Metadata } from "@grpc/grpc-js";
import {
  type AuthenticateResponse,
  AwaitPairingRequest,
  type AwaitPairingResponse,
  type ClaimTokenResponse,
  type CreateChallengeResponse,
  type GetGatewayInfoResponse,
  type HeartbeatResponse,
  NodePairingServiceClient,
  RequestPairingRequest,
  type RequestPairingResponse,
  type RotateTokenResponse,
  type WatchNodeResponse,
} from "../../src/gen/pairgate/v1/node_pairing_service";
import { newClientNonce, type VerifiedGateway, verifyChallenge, verifyGatewayInfo } from "./gateway-proof";
import { fetchPinnedCertificate, pinnedServerIdentity } from "./tls-pin";
import { type ConnectProofInput, type NodeConnection, runConnect } from "./node-connection";
import { type CallSettings, callUnary, defaultMapError, openStream, type ServerStream } from "./rpc";

/** Options of {@link NodeGatewayClient}. */
export interface NodeGatewayClientOptions {
  /** The gateway's node listener, "host:port". */
  address: string;
  /**
   * TLS: the certificate (PEM) to trust as the only root, e.g. the gateway's `node-tls/cert.pem` or
   * what {@link fetchPinnedCertificate} returned. Host-name checks stay on: the address's host must be
   * in the certificate's names. Omit (with `tlsPin`) for a plaintext listener.
   */
  tlsCa?: Buffer;
  /**
   * TLS: the SPKI pin (`sha256/<base64>`, from `pairgate nodes tls`). With `tlsCa`, every connection
   * must also present this key. Without `tlsCa`, use {@link NodeGatewayClient.connectPinned}.
   */
  tlsPin?: string;
  /** Deadline of each unary call in ms. @default 10000 */
  deadlineMs?: number;
}

/**
 * NodeGatewayClient is the promise client of pairgate.v1.NodePairingService, the node-facing TCP
 * API. It only moves bytes: signing is the caller's job (see clients/node for the whole protocol).
 * Every method rejects with a typed PairgateError.
 */
export class NodeGatewayClient {
  readonly #client: NodePairingServiceClient;
  readonly #settings: CallSettings;

  constructor(options: NodeGatewayClientOptions) {
    if (options.tlsPin !== undefined && options.tlsCa === undefined) {
      throw new TypeError("tlsPin needs tlsCa; use NodeGatewayClient.connectPinned to fetch the pinned certificate");
    }
    // Host-name verification is never switched off: the certificate must name the address we dial,
    // and with a pin it must also carry the pinned key.
    const creds: ChannelCredentials =
      options.tlsCa === undefined
        ? credentials.createInsecure()
        : credentials.createSsl(options.tlsCa, null, null, options.tlsPin === undefined ? {} : { checkServerIdentity: pinnedServerIdentity(options.tlsPin) });
    this.#client = new NodePairingServiceClient(options.address, creds, {});
    this.#settings = { deadlineMs: options.deadlineMs ?? 10_000, mapError: defaultMapError };
  }

  /**
   * A TLS client that trusts only the key `tlsPin`: fetches the certificate the gateway presents, checks
   * its SPKI pin, and uses exactly it as the root with host-name checks on (and the pin checked again
   * on every connection). Re-create the client after an UNAVAILABLE caused by a certificate renewal.
   * Rejects with TlsPinMismatchError for another key.
   */
  static async connectPinned(options: Omit<NodeGatewayClientOptions, "tlsCa"> & { tlsPin: string }): Promise<NodeGatewayClient> {
    const tlsCa = await fetchPinnedCertificate(options.address, options.tlsPin);
    return new NodeGatewayClient({ ...options, tlsCa });
  }

  /**
   * The gateway's identity (`gatewayId` to pin), name and version, unverified. With `clientNonce` the
   * response carries a gateway signature over it; {@link proveGateway} does the whole check.
   */
  getGatewayInfo(clientNonce: Uint8Array = new Uint8Array()): Promise<GetGatewayInfoResponse> {
    return callUnary(this.#c.getGatewayInfo.bind(this.#c), { clientNonce: Buffer.from(clientNonce) }, this.#settings);
  }

  /**
   * Asks the gateway to prove its identity over a fresh client nonce and verifies the answer
   * (docs/protocol.md §7): public key hashes to the id, the id equals `pinned` when given, protocol
   * version 1, signature valid. Throws GatewayIdentityError for an impostor or a changed identity.
   */
  async proveGateway(pinned?: { gatewayId: string }): Promise<VerifiedGateway> {
    const clientNonce = newClientNonce();
    return verifyGatewayInfo(await this.getGatewayInfo(clientNonce), clientNonce, pinned);
  }

  /**
   * A fresh single-use nonce for `nodeId`, valid 60 s. Given a verified `gateway`, asks for and checks
   * the gateway's signature over the challenge (throws GatewayIdentityError when it does not verify),
   * so the node never signs a nonce its pinned gateway did not issue.
   */
  async createChallenge(nodeId: string, gateway?: Pick<VerifiedGateway, "gatewayId" | "publicKey">): Promise<CreateChallengeResponse> {
    const clientNonce = gateway === undefined ? new Uint8Array() : newClientNonce();
    const challenge = await callUnary(
      this.#c.createChallenge.bind(this.#c),
      { nodeId, clientNonce: Buffer.from(clientNonce) },
      this.#settings,
    );
    if (gateway !== undefined) verifyChallenge(gateway, nodeId, challenge, clientNonce);
    return challenge;
  }

  /** Asks the owner to approve this node (the request must be signed, purpose PAIR_REQUEST). */
  requestPairing(request: Partial<RequestPairingRequest>): Promise<RequestPairingResponse> {
    return callUnary(this.#c.requestPairing.bind(this.#c), RequestPairingRequest.fromPartial(request), this.#settings);
  }

  /** Streams the status of a pairing request until it is approved, rejected or expired. */
  awaitPairing(requestId: string, nodeId: string): ServerStream<AwaitPairingResponse> {
    return openStream(this.#c.awaitPairing.bind(this.#c), AwaitPairingRequest.fromPartial({ requestId, nodeId }), {
      ...this.#settings,
      deadlineMs: 0,
    });
  }

  /** Claims the node token once, after approval (signature purpose CLAIM). */
  claimToken(nodeId: string, nonce: Uint8Array, signature: Uint8Array): Promise<ClaimTokenResponse> {
    return callUnary(
      this.#c.claimToken.bind(this.#c),
      { nodeId, nonce: Buffer.from(nonce), signature: Buffer.from(signature) },
      this.#settings,
    );
  }

  /** Opens a session (signature purpose CONNECT over the token's digest, plus the token). */
  authenticate(nodeId: string, nonce: Uint8Array, signature: Uint8Array, token: string): Promise<AuthenticateResponse> {
    return callUnary(
      this.#c.authenticate.bind(this.#c),
      { nodeId, nonce: Buffer.from(nonce), signature: Buffer.from(signature), token },
      this.#settings,
    );
  }

  /** Tells the gateway the node is alive. */
  heartbeat(sessionToken: string): Promise<HeartbeatResponse> {
    return callUnary(this.#c.heartbeat.bind(this.#c), {}, this.#withSession(sessionToken));
  }

  /** Streams events about this node; ends with UnauthenticatedError when the node is revoked. */
  watchNode(sessionToken: string): ServerStream<WatchNodeResponse> {
    return openStream(this.#c.watchNode.bind(this.#c), {}, this.#withSession(sessionToken));
  }

  /** Replaces the node token (signature purpose ROTATE over the session token's digest). */
  rotateToken(sessionToken: string, nonce: Uint8Array, signature: Uint8Array): Promise<RotateTokenResponse> {
    return callUnary(
      this.#c.rotateToken.bind(this.#c),
      { nonce: Buffer.from(nonce), signature: Buffer.from(signature) },
      this.#withSession(sessionToken),
    );
  }

  /**
   * Opens a Connect session (docs/protocol.md §9): one stream, one round trip after it opens. The
   * gateway's challenge is verified against `gateway` (pinned and proven) before `prove` is asked for
   * the CONNECT signature over its nonce and the token. Rejects with GatewayIdentityError for a forged
   * challenge, UnauthenticatedError when the proof fails, or the typed error the stream ended with.
   */
  connect(
    nodeId: string,
    gateway: Pick<VerifiedGateway, "gatewayId" | "publicKey">,
    prove: (challenge: CreateChallengeResponse) => ConnectProofInput | Promise<ConnectProofInput>,
  ): Promise<NodeConnection> {
    return runConnect(this.#c.connect(), nodeId, gateway, prove);
  }

  /** Closes the connection. */
  close(): void {
    (this.#client as Client).close();
  }

  get #c(): NodePairingServiceClient {
    return this.#client;
  }

  #withSession(sessionToken: string): CallSettings {
    return {
      ...this.#settings,
      metadata: () => {
        const md = new Metadata();
        md.set("authorization", `Bearer ${sessionToken}`);
        return md;
      },
    };
  }
}
