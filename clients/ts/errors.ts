import { type ServiceError, status } from "@grpc/grpc-js";

/** The closed set of client error codes; one per gRPC status pairgate uses, plus daemon_not_running. */
export type PairgateErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "unavailable"
  | "deadline_exceeded"
  | "cancelled"
  | "daemon_not_running"
  | "gateway_identity"
  | "tls_pin_mismatch"
  | "internal";

/** PairgateError is the base of every error the client throws; `message` is the daemon's text. */
export class PairgateError extends Error {
  constructor(
    readonly code: PairgateErrorCode,
    message: string,
    /** The gRPC status code, when the error came from a call. */
    readonly grpcCode: status | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/** INVALID_ARGUMENT: the request was malformed; nothing changed. `field` names the offending field. */
export class InvalidArgumentError extends PairgateError {
  constructor(message: string, readonly field: string | undefined, options?: { cause?: unknown }) {
    super("invalid_argument", message, status.INVALID_ARGUMENT, options);
  }
}
/** NOT_FOUND: the code, sender, request or node does not exist (or expired). */
export class NotFoundError extends PairgateError {}
/** ALREADY_EXISTS. */
export class AlreadyExistsError extends PairgateError {}
/** FAILED_PRECONDITION: valid request, but the current state forbids it. */
export class FailedPreconditionError extends PairgateError {}
/** UNAUTHENTICATED: credentials, nonce or signature rejected (the daemon says no more, on purpose). */
export class UnauthenticatedError extends PairgateError {}
/** PERMISSION_DENIED. */
export class PermissionDeniedError extends PairgateError {}
/** RESOURCE_EXHAUSTED: a limit was reached (e.g. too many pending requests). */
export class ResourceExhaustedError extends PairgateError {
  /** How long to wait before retrying, from the `retry-after-ms` trailer (undefined when not sent). */
  retryAfterMs: number | undefined;
}
/** UNAVAILABLE: the daemon is stopping or its storage failed; retry later. */
export class UnavailableError extends PairgateError {}
/** DEADLINE_EXCEEDED: no answer in time. */
export class DeadlineExceededError extends PairgateError {}
/** CANCELLED: the call was cancelled. */
export class CancelledError extends PairgateError {}
/** INTERNAL or any unexpected status. */
export class InternalError extends PairgateError {}

/** The daemon is not listening at the socket path. */
export class DaemonNotRunningError extends PairgateError {
  constructor(readonly socketPath: string, options?: { cause?: unknown }) {
    super(
      "daemon_not_running",
      `pairgate daemon is not running (no socket at ${socketPath}). Start it with: pairgate serve`,
      status.UNAVAILABLE,
      options,
    );
  }
}

/**
 * The gateway failed to prove its identity: its `gateway_id` differs from the pinned one, its public
 * key does not hash to its id, or a gateway signature does not verify (docs/protocol.md §7). Treat
 * it as an impostor: send it nothing, keep the credentials, and tell the user.
 */
export class GatewayIdentityError extends PairgateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("gateway_identity", message, undefined, options);
  }
}

/** The trailer in which the daemon names the offending field of an INVALID_ARGUMENT error. */
const FIELD_TRAILER = "pairgate-field";

/**
 * Maps a grpc-js ServiceError to the typed error for its status. `notRunning` decides whether an
 * UNAVAILABLE that never reached the daemon means the daemon is down (then DaemonNotRunningError).
 */
export function fromServiceError(err: ServiceError, socketPath?: string): PairgateError {
  const message = err.details || err.message;
  const opts = { cause: err };
  switch (err.code) {
    case status.INVALID_ARGUMENT: {
      const field = err.metadata?.get(FIELD_TRAILER)[0];
      return new InvalidArgumentError(message, typeof field === "string" ? field : undefined, opts);
    }
    case status.NOT_FOUND:
      return new NotFoundError("not_found", message, err.code, opts);
    case status.ALREADY_EXISTS:
      return new AlreadyExistsError("already_exists", message, err.code, opts);
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError("failed_precondition", message, err.code, opts);
    case status.UNAUTHENTICATED:
      return new UnauthenticatedError("unauthenticated", message, err.code, opts);
    case status.PERMISSION_DENIED:
      return new PermissionDeniedError("permission_denied", message, err.code, opts);
    case status.RESOURCE_EXHAUSTED: {
      const e = new ResourceExhaustedError("resource_exhausted", message, err.code, opts);
      const after = Number(err.metadata?.get("retry-after-ms")[0]);
      e.retryAfterMs = Number.isFinite(after) && after > 0 ? after : undefined;
      return e;
    }
    case status.UNAVAILABLE:
      if (socketPath !== undefined && /No connection established|connect|ENOENT|ECONNREFUSED/i.test(message)) {
        return new DaemonNotRunningError(socketPath, opts);
      }
      return new UnavailableError("unavailable", message, err.code, opts);
    case status.DEADLINE_EXCEEDED:
      return new DeadlineExceededError("deadline_exceeded", message, err.code, opts);
    case status.CANCELLED:
      return new CancelledError("cancelled", message, err.code, opts);
    case status.UNIMPLEMENTED:
      // The adapter socket serves DmAccessService only: say so instead of a bare "unimplemented".
      return new InternalError(
        "internal",
        `${message} (not served on ${socketPath ?? "this socket"}; owner calls such as approve, revoke and nodes are served only on the operator socket pairgate.sock)`,
        err.code,
        opts,
      );
    default:
      return new InternalError("internal", message, err.code, opts);
  }
}

/** True if `err` is a grpc-js ServiceError. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}
