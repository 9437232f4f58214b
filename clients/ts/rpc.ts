import type { CallOptions, ClientReadableStream, ClientUnaryCall, Metadata as MetadataType, ServiceError } from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import { fromServiceError, isServiceError, type PairgateError } from "./errors";

/** The 4-argument form of a generated unary client method. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: MetadataType,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** The 3-argument form of a generated server-streaming client method. */
export type StreamMethod<Req, Res> = (
  request: Req,
  metadata?: MetadataType,
  options?: Partial<CallOptions>,
) => ClientReadableStream<Res>;

/** How calls are made: deadline, extra metadata, and how errors are mapped. */
export interface CallSettings {
  /** Per-call deadline in ms; 0 = none. */
  deadlineMs: number;
  /** Metadata added to every call (e.g. authorization). */
  metadata?: () => MetadataType | undefined;
  /** Maps a ServiceError to a typed error. */
  mapError: (err: ServiceError) => PairgateError;
}

/** Calls a unary method and returns a promise; rejects with the typed error for the status. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, settings: CallSettings): Promise<Res> {
  const options: Partial<CallOptions> = settings.deadlineMs > 0 ? { deadline: Date.now() + settings.deadlineMs } : {};
  return new Promise((resolve, reject) => {
    method(request, settings.metadata?.() ?? new Metadata(), options, (err, res) =>
      err ? reject(settings.mapError(err)) : resolve(res),
    );
  });
}

/** A server stream as an async iterable that can be cancelled. */
export interface ServerStream<T> extends AsyncIterable<T> {
  /** Ends the stream from the client side; iteration then finishes without error. */
  cancel(): void;
}

/** Opens a server stream; iteration throws the typed error if the server ends it with a status. */
export function openStream<Req, Res>(method: StreamMethod<Req, Res>, request: Req, settings: CallSettings): ServerStream<Res> {
  const call = method(request, settings.metadata?.() ?? new Metadata(), {});
  let cancelled = false;
  return {
    cancel: () => {
      cancelled = true;
      call.cancel();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for await (const message of call) yield message as Res;
      } catch (err) {
        if (cancelled) return;
        throw isServiceError(err) ? settings.mapError(err) : err;
      }
    },
  };
}

/** The default error mapping (no socket path, so UNAVAILABLE stays UnavailableError). */
export const defaultMapError = (err: ServiceError): PairgateError => fromServiceError(err);
