import {
  type handleBidiStreamingCall,
  status,
  type handleServerStreamingCall,
  type ServerDuplexStream,
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import type { CallerRole } from "../../domain/dm-types";
import { InvalidArgumentError } from "../../domain/errors";
import type { Logger } from "../../domain/logger";
import { toGrpcStatus } from "./status";
import { MalformedRequest } from "./strict-decode";

/** What every handler wrapper needs from the daemon. */
export interface HandlerEnv {
  readonly log: Logger;
  /** Aborted when the daemon starts stopping; open streams then end with UNAVAILABLE. */
  readonly stopping: AbortSignal;
  /** Which socket the handlers serve: the owner's (default) or the adapters'. */
  readonly role?: CallerRole;
}

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The peer address as grpc-js reports it (e.g. "ipv4:127.0.0.1:5555" or "unix:..."). */
  readonly peer: string;
  /** Request metadata (headers). */
  readonly metadata: Metadata;
  /** Aborted when the client cancels or the call ends. */
  readonly signal: AbortSignal;
  /** The socket the call came in on: "owner" (pairgate.sock, every service) or "adapter" (adapter.sock). */
  readonly role: CallerRole;
}

/** A server stream as a handler sees it. */
export interface StreamSink<Res> {
  /** Sends one message; returns false if the stream is already gone. */
  send(message: Res): boolean;
  /** Resolves once the transport has room for more (after a send filled its buffer); for bulk streams. */
  drained(): Promise<void>;
}

/**
 * The context of one call. `peer` and `signal` are built on first use: most unary handlers never read
 * them, and an AbortController per call (plus the DOMException its abort() creates when the call
 * closes) was the largest per-call cost of the wrapper (see bench/README.md).
 */
type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

function contextOf(
  call: AnyCall,
  env: HandlerEnv,
): CallContext {
  let signal: AbortSignal | undefined;
  return {
    role: env.role ?? "owner",
    get peer() {
      return call.getPeer();
    },
    metadata: call.metadata,
    get signal() {
      signal ??= callSignal(call, env);
      return signal;
    },
  };
}

/**
 * The abort reason of every call signal. `abort()` without a reason builds a DOMException (with its
 * stack) per call: ~2% of the server's CPU on Connect streams (bench/README.md). Nobody reads the reason.
 */
const CALL_ENDED = Object.freeze({ name: "CallEnded", message: "the call ended or the daemon is stopping" });

/** An AbortSignal that aborts when `call` is cancelled or closes, or the daemon starts stopping. */
function callSignal(
  anyCall: AnyCall,
  env: HandlerEnv,
): AbortSignal {
  // Every kind of call is an EventEmitter with "cancelled" and "close" events.
  const call = anyCall as ServerUnaryCall<unknown, unknown>;
  const controller = new AbortController();
  const abort = (): void => {
    controller.abort(CALL_ENDED);
    env.stopping.removeEventListener("abort", abort);
  };
  call.once("cancelled", abort);
  call.once("close", abort);
  if (env.stopping.aborted || call.cancelled) controller.abort(CALL_ENDED);
  else env.stopping.addEventListener("abort", abort, { once: true });
  return controller.signal;
}

/**
 * THE adapter from an async unary handler to a grpc-js callback. The callback is called exactly once;
 * a thrown error is mapped by toGrpcStatus, so no raw Error (or its message) reaches grpc-js.
 */
export function unary<Req, Res>(
  method: string,
  env: HandlerEnv,
  fn: (request: Req, ctx: CallContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  const log = env.log;
  return (call, callback) => {
    if (call.request instanceof MalformedRequest) {
      callback(toGrpcStatus(malformed(call.request), log, method));
      return;
    }
    let ctx: CallContext;
    try {
      ctx = contextOf(call as ServerUnaryCall<unknown, unknown>, env);
    } catch (err) {
      callback(toGrpcStatus(err, log, method));
      return;
    }
    Promise.resolve()
      .then(() => fn(call.request, ctx))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toGrpcStatus(err, log, method)),
      );
  };
}

/**
 * THE adapter for server-streaming handlers. The handler sends through `sink` and returns when the
 * stream is complete (usually when `ctx.signal` aborts); a throw ends the stream with the mapped status.
 */
export function serverStream<Req, Res>(
  method: string,
  env: HandlerEnv,
  fn: (request: Req, sink: StreamSink<Res>, ctx: CallContext) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    if (call.request instanceof MalformedRequest) {
      call.emit("error", toGrpcStatus(malformed(call.request), env.log, method));
      return;
    }
    const { ctx, sink } = streamOf<Res>(call as ServerWritableStream<unknown, Res>, env);
    finish(call as ServerWritableStream<unknown, Res>, env, method, () => fn(call.request, sink, ctx));
  };
}

/**
 * THE adapter for bidirectional-streaming handlers: as {@link serverStream}, and the handler reads the
 * client's messages from `incoming` (done when the client half-closes or the call ends).
 */
export function bidiStream<Req, Res>(
  method: string,
  env: HandlerEnv,
  fn: (incoming: AsyncIterator<Req>, sink: StreamSink<Res>, ctx: CallContext) => Promise<void>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, sink } = streamOf<Res>(call as ServerDuplexStream<unknown, Res>, env);
    finish(call as ServerDuplexStream<unknown, Res>, env, method, () => fn(incomingOf<Req>(call), sink, ctx));
  };
}

/**
 * The client's messages as an iterator fed by "data" events. Not the stream's own async iterator: that
 * one destroys the call when the handler's error status is emitted, so the status would never be sent.
 * A message the strict deserializer refused rejects `next()` with its InvalidArgumentError.
 */
function incomingOf<Req>(call: ServerDuplexStream<Req, unknown>): AsyncIterator<Req> {
  const buffered: Req[] = [];
  let waiter: ((r: IteratorResult<Req>) => void) | undefined;
  let refused: InvalidArgumentError | undefined;
  let ended = false;
  const end = (): void => {
    ended = true;
    waiter?.({ done: true, value: undefined });
    waiter = undefined;
  };
  call.on("data", (m: Req) => {
    if (m instanceof MalformedRequest) {
      refused ??= malformed(m);
      end();
      return;
    }
    if (waiter === undefined) buffered.push(m);
    else {
      const w = waiter;
      waiter = undefined;
      w({ done: false, value: m });
    }
  });
  call.once("end", end);
  call.once("close", end);
  return {
    next: () => {
      const m = buffered.shift();
      if (m !== undefined) return Promise.resolve({ done: false, value: m });
      if (refused !== undefined) return Promise.reject(refused);
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => (waiter = resolve));
    },
  };
}

/** The context and sink of a stream. */
function streamOf<Res>(
  call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>,
  env: HandlerEnv,
): { ctx: CallContext; sink: StreamSink<Res> } {
  const ctx = contextOf(call as AnyCall, env);
  // Streams always need the signal (the sink checks it), so hook the call's events from the start.
  void ctx.signal;
  let full = false;
  const sink: StreamSink<Res> = {
    send: (message) => {
      if (ctx.signal.aborted || call.destroyed || call.writableEnded) return false;
      full = !call.write(message);
      return true;
    },
    drained: () =>
      full && !ctx.signal.aborted
        ? new Promise<void>((resolve) => {
            const done = (): void => {
              full = false;
              call.off("drain", done);
              ctx.signal.removeEventListener("abort", done);
              resolve();
            };
            call.on("drain", done);
            ctx.signal.addEventListener("abort", done, { once: true });
          })
        : Promise.resolve(),
  };
  return { ctx, sink };
}

/** Runs a stream handler and ends the call: OK when it returns, the mapped status when it throws. */
function finish(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  env: HandlerEnv,
  method: string,
  run: () => Promise<void>,
): void {
  Promise.resolve()
    .then(run)
    .then(
      () => {
        if (call.writableEnded || call.destroyed) return;
        if (env.stopping.aborted) call.emit("error", { code: status.UNAVAILABLE, details: "pairgate daemon is stopping" });
        else call.end();
      },
      (err: unknown) => {
        if (call.writableEnded || call.destroyed) return;
        call.emit("error", toGrpcStatus(err, env.log, method));
      },
    );
}

/** The INVALID_ARGUMENT error of a request the strict deserializer refused (see strict-decode.ts). */
function malformed(m: MalformedRequest): InvalidArgumentError {
  return new InvalidArgumentError(m.message, m.field);
}

/** Resolves when `signal` aborts (the client went away or the server is stopping). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
