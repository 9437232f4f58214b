/**
 * The closed set of error codes the domain raises. Transport maps each to exactly one gRPC status
 * (src/transport/grpc/status.ts); there are no other codes.
 */
export type DomainErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

/** Options shared by every domain error. */
export interface DomainErrorOptions {
  /** The underlying error, kept for logs; never sent to clients. */
  cause?: unknown;
  /** Extra context for logs only (e.g. the precise reason behind a generic auth failure). */
  logDetail?: string;
}

/**
 * DomainError is the base of every error the domain throws on purpose. Its `message` is safe to show
 * to the caller; `logDetail` and `cause` are for the daemon's log only.
 */
export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  readonly logDetail: string | undefined;

  constructor(message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.logDetail = options.logDetail;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** Input failed validation (a malformed field, an unknown channel). Nothing was changed. */
export class InvalidArgumentError extends DomainError {
  readonly code = "invalid_argument";
  /** The offending field path, e.g. "channel" or "sender_meta.username". */
  readonly field: string | undefined;
  constructor(message: string, field?: string, options?: DomainErrorOptions) {
    super(message, options);
    this.field = field;
  }
}

/** The named thing does not exist (or no longer exists: an expired code, a revoked node). */
export class NotFoundError extends DomainError {
  readonly code = "not_found";
}

/** The thing to create exists already. */
export class AlreadyExistsError extends DomainError {
  readonly code = "already_exists";
}

/** The request is valid but the current state forbids it (e.g. revoking a config-only sender). */
export class FailedPreconditionError extends DomainError {
  readonly code = "failed_precondition";
}

/**
 * Authentication failed. The message is always the same generic text so it is no oracle; the precise
 * reason goes in `logDetail`.
 */
export class UnauthenticatedError extends DomainError {
  readonly code = "unauthenticated";
  constructor(logDetail: string, options: Omit<DomainErrorOptions, "logDetail"> = {}) {
    super(UnauthenticatedError.MESSAGE, { ...options, logDetail });
  }
  /** The one message every authentication failure carries. */
  static readonly MESSAGE = "authentication failed";
}

/** The caller is known but may not do this. */
export class PermissionDeniedError extends DomainError {
  readonly code = "permission_denied";
}

/**
 * A limit was reached (pending queue full, too many challenges, a per-peer quota). `retryAfterMs`,
 * when known, is how long the caller should wait before trying again (sent as the `retry-after-ms`
 * trailer).
 */
export class ResourceExhaustedError extends DomainError {
  readonly code = "resource_exhausted";
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: DomainErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(options.retryAfterMs));
  }
}

/** The service cannot do this right now (store closing or failing); retrying later may work. */
export class UnavailableError extends DomainError {
  readonly code = "unavailable";
}

/** A bug or an unexpected state; the message is generic, the cause is logged. */
export class InternalError extends DomainError {
  readonly code = "internal";
}
