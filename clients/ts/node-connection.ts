import { type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type {
  AuthenticateResponse,
  ConnectRequest,
  ConnectResponse,
  CreateChallengeResponse,
  HeartbeatResponse,
  WatchNodeResponse,
} from "../../src/gen/pairgate/v1/node_pairing_service";
import { fromServiceError, InternalError, UnavailableError } from "./errors";
import { newClientNonce, type VerifiedGateway, verifyChallenge } from "./gateway-proof";

/** What the node sends in answer to the gateway's (verified) challenge: its CONNECT signature and token. */
export interface ConnectProofInput {
  signature: Uint8Array;
  token: string;
}

/**
 * One Connect session (NodePairingService.Connect, docs/protocol.md §9): the session the gateway
 * issued, its events, heartbeats, and its end.
 */
export interface NodeConnection {
  /** The session (its token also works as `authorization: Bearer` for RotateToken). */
  readonly session: AuthenticateResponse;
  /**
   * Events about the node, SUBSCRIBED first. Iteration ends when the stream ends: without error after
   * close(), else with the typed error the stream ended with (UnauthenticatedError after REVOKED).
   */
  readonly events: AsyncIterable<WatchNodeResponse>;
  /** Resolves when the stream ends after close(); rejects with the typed error it ended with otherwise. */
  readonly ended: Promise<void>;
  /** Sends a heartbeat and resolves with the gateway's answer. */
  heartbeat(): Promise<HeartbeatResponse>;
  /** Ends the stream from the node's side. */
  close(): void;
}

/**
 * Runs the Connect handshake on an open duplex call: sends hello with a fresh client nonce, verifies
 * the gateway's CHALLENGE proof against the pinned `gateway` (the node never signs an unproven nonce),
 * asks `prove` for the signature and token, and resolves once the session arrives. Rejects with
 * GatewayIdentityError for a forged challenge (the stream is cancelled), or with the typed error the
 * gateway ended the stream with.
 */
export async function runConnect(
  call: ClientDuplexStream<ConnectRequest, ConnectResponse>,
  nodeId: string,
  gateway: Pick<VerifiedGateway, "gatewayId" | "publicKey">,
  prove: (challenge: CreateChallengeResponse) => ConnectProofInput | Promise<ConnectProofInput>,
): Promise<NodeConnection> {
  const clientNonce = newClientNonce();
  const queue = new MessageQueue(call);
  const send = (message: ConnectRequest["message"]): void => void call.write({ message });
  try {
    send({ $case: "hello", value: { nodeId, clientNonce: Buffer.from(clientNonce) } });
    const first = await queue.next();
    if (first?.$case !== "challenge") throw new InternalError("internal", `expected a challenge, got ${first?.$case ?? "nothing"}`, undefined);
    verifyChallenge(gateway, nodeId, first.value, clientNonce);
    const proof = await prove(first.value);
    send({ $case: "proof", value: { signature: Buffer.from(proof.signature), token: proof.token } });
    const second = await queue.next();
    if (second?.$case !== "session") throw new InternalError("internal", `expected a session, got ${second?.$case ?? "nothing"}`, undefined);
    return queue.connection(second.value, () => send({ $case: "heartbeat", value: {} }));
  } catch (err) {
    queue.close();
    throw err;
  }
}

/** Routes the gateway's messages: handshake replies in order, heartbeat answers FIFO, events to a queue. */
class MessageQueue {
  readonly #call: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  readonly #waiting: Array<{ resolve: (m: ConnectResponse["message"]) => void; reject: (e: Error) => void }> = [];
  readonly #buffered: Array<ConnectResponse["message"]> = [];
  readonly #heartbeats: Array<{ resolve: (h: HeartbeatResponse) => void; reject: (e: Error) => void }> = [];
  readonly #events: WatchNodeResponse[] = [];
  #eventWaiter: (() => void) | undefined;
  #connected = false;
  #closedByUs = false;
  #error: Error | undefined;
  #done = false;
  readonly ended: Promise<void>;

  constructor(call: ClientDuplexStream<ConnectRequest, ConnectResponse>) {
    this.#call = call;
    let endOk!: () => void;
    let endFail!: (e: Error) => void;
    this.ended = new Promise<void>((resolve, reject) => {
      endOk = resolve;
      endFail = reject;
    });
    this.ended.catch(() => undefined);
    call.on("data", (r: ConnectResponse) => this.#onMessage(r.message));
    call.on("error", (err: ServiceError) => {
      const e = this.#closedByUs ? undefined : fromServiceError(err);
      this.#finish(e);
      if (e === undefined) endOk();
      else endFail(e);
    });
    call.on("end", () => {
      this.#finish(undefined);
      endOk();
    });
  }

  next(): Promise<ConnectResponse["message"]> {
    const buffered = this.#buffered.shift();
    if (buffered !== undefined) return Promise.resolve(buffered);
    if (this.#done) return Promise.reject(this.#error ?? new UnavailableError("unavailable", "the Connect stream ended", undefined));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  close(): void {
    this.#closedByUs = true;
    this.#call.cancel();
  }

  connection(session: AuthenticateResponse, sendHeartbeat: () => void): NodeConnection {
    this.#connected = true;
    return {
      session,
      ended: this.ended,
      events: { [Symbol.asyncIterator]: () => this.#eventIterator() },
      heartbeat: () =>
        this.#done
          ? Promise.reject(this.#error ?? new UnavailableError("unavailable", "the Connect stream ended", undefined))
          : new Promise<HeartbeatResponse>((resolve, reject) => {
              this.#heartbeats.push({ resolve, reject });
              sendHeartbeat();
            }),
      close: () => this.close(),
    };
  }

  async *#eventIterator(): AsyncGenerator<WatchNodeResponse> {
    for (;;) {
      const e = this.#events.shift();
      if (e !== undefined) {
        yield e;
        continue;
      }
      if (this.#done) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#eventWaiter = resolve));
    }
  }

  #onMessage(m: ConnectResponse["message"]): void {
    if (this.#connected && m?.$case === "event") {
      this.#events.push(m.value);
      this.#wakeEvents();
    } else if (this.#connected && m?.$case === "heartbeat") {
      this.#heartbeats.shift()?.resolve(m.value);
    } else {
      const w = this.#waiting.shift();
      if (w !== undefined) w.resolve(m);
      else this.#buffered.push(m);
    }
  }

  #finish(err: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    const e = err ?? new UnavailableError("unavailable", "the Connect stream ended", undefined);
    for (const w of this.#waiting.splice(0)) w.reject(e);
    for (const h of this.#heartbeats.splice(0)) h.reject(e);
    this.#wakeEvents();
  }

  #wakeEvents(): void {
    const w = this.#eventWaiter;
    this.#eventWaiter = undefined;
    w?.();
  }
}
