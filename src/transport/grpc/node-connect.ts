import type { handleBidiStreamingCall } from "@grpc/grpc-js";
import { z } from "zod";
import { FailedPreconditionError, InvalidArgumentError, UnauthenticatedError } from "../../domain/errors";
import type { NodePairing, NodeScopedEvent } from "../../domain/node-pairing";
import type { NodeWatch } from "../../domain/node-types";
import {
  type ConnectRequest,
  type ConnectResponse,
  WatchNodeEventType,
} from "../../gen/pairgate/v1/node_pairing_service";
import { bidiStream, type CallContext, type HandlerEnv, untilAborted } from "./handler";
import { peerAddress } from "./peer-address";
import type { PeerLimits } from "./peer-limits";
import { shortText, validate } from "./validate";

const helloSchema = z.object({
  nodeId: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters"),
  clientNonce: z
    .instanceof(Uint8Array, { message: "must be bytes" })
    .refine((b) => b.length >= 16 && b.length <= 64, "must be 16 to 64 bytes (Connect requires a client nonce)"),
});
const proofSchema = z.object({
  signature: z.instanceof(Uint8Array, { message: "must be bytes" }).refine((b) => b.length === 64, "must be exactly 64 bytes"),
  token: shortText(256),
});

const EVENT: Partial<Record<NodeScopedEvent["type"], WatchNodeEventType>> = {
  subscribed: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED,
  renamed: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED,
  "token-rotated": WatchNodeEventType.WATCH_NODE_EVENT_TYPE_TOKEN_ROTATED,
  revoked: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED,
};

/** What the Connect handler needs besides the domain and the per-peer limits. */
export interface ConnectOptions {
  /** How long the node has to send `proof` after the challenge was sent (`nodes.limits.requestTimeoutMs`). */
  proofTimeoutMs: number;
  /** Authenticated Connect streams per node; one more ends the oldest (`nodes.limits.connectStreamsPerNode`). */
  streamsPerNode: number;
  /** Marks the call's TCP connection as proven (so the first-RPC deadline does not close it). */
  proveConnection: (peer: string) => void;
}

/**
 * The authenticated Connect streams of each node, oldest first; adding one past the bound ends the
 * oldest. Only streams that passed authentication count, so nobody but the node itself (its key and
 * token) can push a node's stream out.
 */
class ConnectedNodes {
  readonly #byNode = new Map<string, Array<() => void>>();

  constructor(readonly perNode: number) {}

  /** Registers a stream; `supersede` is called if a newer one pushes it out. Returns the unregister function. */
  add(nodeId: string, supersede: () => void): () => void {
    const list = this.#byNode.get(nodeId) ?? [];
    while (list.length >= this.perNode) list.shift()!();
    list.push(supersede);
    this.#byNode.set(nodeId, list);
    return () => {
      const now = this.#byNode.get(nodeId);
      if (now === undefined) return;
      const i = now.indexOf(supersede);
      if (i >= 0) now.splice(i, 1);
      if (now.length === 0) this.#byNode.delete(nodeId);
    };
  }
}

/**
 * The next message of `incoming`, which must be of kind `kind` (its value is validated by the caller).
 * Throws InvalidArgumentError when it is another kind or the stream ended, UnauthenticatedError when
 * it does not come within `timeoutMs`.
 */
async function expect<K extends NonNullable<ConnectRequest["message"]>["$case"]>(
  incoming: AsyncIterator<ConnectRequest>,
  kind: K,
  timeoutMs: number,
  ctx: CallContext,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnauthenticatedError(`no Connect ${kind} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const next = await Promise.race([incoming.next(), late, untilAborted(ctx.signal).then(() => ({ done: true as const, value: undefined }))]);
    if (next.done === true) throw new InvalidArgumentError(`the stream ended before ${kind}`, "message");
    const m = next.value.message;
    if (m?.$case !== kind) throw new InvalidArgumentError(`expected ${kind}, got ${m?.$case ?? "an empty message"}`, "message");
    return m.value;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The handler of NodePairingService.Connect (docs/protocol.md §9): hello -> challenge (with the
 * gateway's proof) -> proof -> session, then heartbeats and node events on the same stream. Built
 * from the same domain calls as CreateChallenge, Authenticate, Heartbeat and WatchNode, so every rule
 * of those (nonce pools, single use, token rules, revocation) holds here too. The stream takes a
 * token from the peer's bucket and a Connect slot of the peer while open.
 */
export function connectHandler(
  nodes: NodePairing,
  env: HandlerEnv,
  limits: PeerLimits,
  options: ConnectOptions,
): handleBidiStreamingCall<ConnectRequest, ConnectResponse> {
  const connected = new ConnectedNodes(options.streamsPerNode);
  return bidiStream<ConnectRequest, ConnectResponse>("Connect", env, async (incoming, sink, ctx) => {
    const remoteIp = peerAddress(ctx.peer).remoteIp;
    limits.admit(remoteIp);
    const release = limits.openConnect(remoteIp);
    let watch: NodeWatch | undefined;
    let unregister = (): void => undefined;
    try {
      // The guard's request deadline covers the first message; the proof has its own.
      const hello = validate(helloSchema, await expect(incoming, "hello", 2 ** 31 - 1, ctx));
      const challenge = await nodes.createChallenge(hello.nodeId, remoteIp, hello.clientNonce);
      sink.send({ message: { $case: "challenge", value: challenge } });
      const proof = validate(proofSchema, await expect(incoming, "proof", options.proofTimeoutMs, ctx));
      const session = await nodes.authenticate(hello.nodeId, challenge.nonce, proof.signature, proof.token);
      sink.send({ message: { $case: "session", value: session } });
      options.proveConnection(ctx.peer);

      let supersede!: (err: Error) => void;
      const superseded = new Promise<never>((_, reject) => (supersede = reject));
      superseded.catch(() => undefined);
      unregister = connected.add(hello.nodeId, () =>
        supersede(new FailedPreconditionError("superseded by a newer Connect stream of this node")),
      );
      watch = await nodes.watchNode(session.sessionToken, (e) => {
        const type = EVENT[e.type];
        if (type !== undefined) sink.send({ message: { $case: "event", value: { type, displayName: e.displayName, atMs: e.atMs } } });
      });
      const heartbeats = (async (): Promise<void> => {
        for (;;) {
          const next = await incoming.next();
          if (next.done === true) return;
          if (next.value.message?.$case !== "heartbeat") {
            throw new InvalidArgumentError(`expected heartbeat, got ${next.value.message?.$case ?? "an empty message"}`, "message");
          }
          sink.send({ message: { $case: "heartbeat", value: await nodes.heartbeat(session.sessionToken) } });
        }
      })();
      heartbeats.catch(() => undefined); // a late failure after the race is settled is not "unhandled"
      await Promise.race([heartbeats, watch.ended, superseded, untilAborted(ctx.signal)]);
    } finally {
      watch?.close();
      unregister();
      release();
    }
  });
}
