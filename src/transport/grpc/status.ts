import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { DomainError, type DomainErrorCode, InvalidArgumentError, ResourceExhaustedError } from "../../domain/errors";
import type { Logger } from "../../domain/logger";

/** THE mapping from domain error codes to gRPC status codes. Nothing else in pairgate picks a status. */
export const STATUS_BY_CODE: Readonly<Record<DomainErrorCode, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

/** Trailer naming the offending request field of an INVALID_ARGUMENT error. */
export const FIELD_TRAILER = "pairgate-field";
/** Trailer of a RESOURCE_EXHAUSTED error: milliseconds to wait before retrying (decimal integer). */
export const RETRY_AFTER_TRAILER = "retry-after-ms";

/**
 * Turns anything a handler threw into a gRPC status. Domain errors keep their (caller-safe) message;
 * anything else becomes INTERNAL "internal error". Every failure is logged with its private detail,
 * never with request secrets.
 */
export function toGrpcStatus(err: unknown, log: Logger, method: string): Partial<StatusObject> {
  const metadata = new Metadata();
  if (err instanceof DomainError) {
    const code = STATUS_BY_CODE[err.code];
    if (err instanceof InvalidArgumentError && err.field !== undefined) metadata.set(FIELD_TRAILER, err.field);
    if (err instanceof ResourceExhaustedError && err.retryAfterMs !== undefined) {
      metadata.set(RETRY_AFTER_TRAILER, String(err.retryAfterMs));
    }
    const fields = { method, code: status[code], cause: causeText(err.cause) };
    // The log gets the error's log-specific text when it has one (a masked code, the real reason behind
    // a generic authentication failure), else the caller-safe message.
    const text = err.logDetail ?? err.message;
    if (err.code === "internal" || err.code === "unavailable") log.error(text, fields);
    else log.info(`rpc failed: ${text}`, fields);
    return { code, details: err.message, metadata };
  }
  log.error("unexpected error in handler", { method, cause: causeText(err) });
  return { code: status.INTERNAL, details: "internal error", metadata };
}

function causeText(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
