/** pairgate's TypeScript client: explicit named exports only. */
export { defaultAdapterSocket, PairgateClient, type PairgateClientOptions, type DmAccessApi, type DmPairingApi } from "./pairgate-client";
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
  GatewayIdentityError,
  fromServiceError,
} from "./errors";
/** Generated message types and enums the client's callers need (re-exported so they never import src/gen). */
export { Decision, CheckInboundResponse, Notification, NotificationKind } from "../../src/gen/pairgate/v1/dm_access_service";
export {
  AllowedSender,
  CallerRole,
  ChannelStatus,
  DmPolicy,
  NotifyStatus,
  PairingEventType,
  PairingRequest,
  SenderSource,
  WatchPairingEventsResponse,
} from "../../src/gen/pairgate/v1/dm_pairing_service";
export { type NodeAdminApi, type AdminApi } from "./pairgate-client";
export {
  GetStoreStatusResponse,
  VerifyStoreResponse,
  StoreProblem,
  GetDaemonStatusResponse,
  AuditRecord,
  ListAuditRecordsResponse,
  ImportStateRequest,
  ImportStateResponse,
  ImportSkip,
  ImportedSender,
  ImportedPairingRequest,
} from "../../src/gen/pairgate/v1/admin_service";
export { NodeGatewayClient, type NodeGatewayClientOptions } from "./node-gateway-client";
export { type NodeConnection, type ConnectProofInput } from "./node-connection";
export { fetchPinnedCertificate, normalizePin, pinnedServerIdentity, spkiPinOf, TlsPinMismatchError } from "./tls-pin";
export { isLostReply, retryLostReply, type RetryOptions } from "./retry";
export {
  newClientNonce,
  SUPPORTED_PROTOCOL_VERSION,
  type VerifiedGateway,
  verifyChallenge,
  verifyGatewayInfo,
} from "./gateway-proof";
export {
  GatewayProofPurpose,
  gatewayProofPayload,
  challengeProofBody,
  gatewayInfoProofBody,
  NodeSignPurpose,
  type NodeSignPurposeValue,
  nodeSignedPayload,
  pairRequestDigest,
  pairInviteDigest,
  inviteKeySeed,
  inviteProofPayload,
  INVITE_PROOF_PURPOSE,
  tokenDigest,
  nodeIdFromPublicKey,
  type PairRequestBodyFields,
} from "./signed-payload";
export { formatInviteUri, type InviteUri, InviteUriError, parseInviteUri } from "./invite-uri";
export {
  CreateNodeInviteResponse,
  NodeInvite,
  GetNodeTlsResponse,
  NodeEventType,
  NodeTokenState,
  PairedNode,
  PendingNode,
  WatchNodeEventsResponse,
} from "../../src/gen/pairgate/v1/node_admin_service";
export { NodePairingStatus, WatchNodeEventType } from "../../src/gen/pairgate/v1/node_pairing_service";
