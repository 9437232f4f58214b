/** pairgate's TypeScript client: explicit named exports only. */
export { PairgateClient, type PairgateClientOptions, type DmAccessApi, type DmPairingApi } from "./pairgate-client";
export { type ServerStream, type CallSettings, callUnary, openStream } from "./rpc";
export {
  PairgateError,
  type PairgateErrorCode,
  InvalidArgumentError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  UnauthenticatedError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnavailableError,
  DeadlineExceededError,
  CancelledError,
  InternalError,
  DaemonNotRunningError,
  fromServiceError,
} from "./errors";
