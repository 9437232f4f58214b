import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status,
} from "@grpc/grpc-js";

/** The long-lived streams of the unix sockets that count against the per-connection cap. */
export const CAPPED_STREAM_PATHS: readonly string[] = [
  "/pairgate.v1.DmAccessService/SubscribeNotifications",
  "/pairgate.v1.DmPairingService/WatchPairingEvents",
];

/**
 * The HTTP/2 session a call runs on. Unix-socket peers have no address to tell connections apart,
 * so the cap is keyed by the session object, read from grpc-js's base call (its `stream`). grpc-js is
 * pinned; test/integration/dm-hostile-input.test.ts fails if this stops finding the session.
 */
function sessionOf(call: ServerInterceptingCallInterface): object | undefined {
  let c: unknown = call;
  for (let i = 0; i < 4 && c !== undefined && c !== null; i++) {
    const stream = (c as { stream?: { session?: object } }).stream;
    if (stream?.session !== undefined) return stream.session;
    c = (c as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/**
 * A server interceptor capping the open SubscribeNotifications + WatchPairingEvents streams per
 * connection at `max`: one more ends at once with RESOURCE_EXHAUSTED (the client's other streams are
 * unaffected; it may open them on another connection, each with its own cap, and the HTTP/2
 * concurrent-stream limit bounds everything on one connection). A call whose connection cannot be
 * found shares one fallback counter (fail closed).
 */
export function streamCapInterceptor(max: number): ServerInterceptor {
  const open = new WeakMap<object, number>();
  const fallback = {};
  return (method, call) => {
    // Every other call passes through untouched (no wrapper on the CheckInbound hot path).
    if (!CAPPED_STREAM_PATHS.includes(method.path)) return call as ServerInterceptingCall;
    const session = sessionOf(call) ?? fallback;
    let counted = false;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      open.set(session, Math.max(0, (open.get(session) ?? 1) - 1));
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        const held = open.get(session) ?? 0;
        if (held >= max) {
          call.sendStatus({
            code: status.RESOURCE_EXHAUSTED,
            details: `too many open event streams on this connection (limit ${max}, dm.streamsPerConnection)`,
            metadata: new Metadata(),
          });
          return;
        }
        open.set(session, held + 1);
        counted = true;
        next({ onCancel: release });
      },
      sendStatus: (s, nextStatus) => {
        release();
        nextStatus(s);
      },
    });
  };
}
