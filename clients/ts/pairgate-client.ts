import { homedir } from "node:os";
import { join } from "node:path";
import { type Client, credentials, type ServiceError } from "@grpc/grpc-js";
import {
  AckNotificationRequest,
  CheckInboundRequest,
  type CheckInboundResponse,
  DmAccessServiceClient,
  SubscribeNotificationsRequest,
  type SubscribeNotificationsResponse,
} from "../../src/gen/pairgate/v1/dm_access_service";
import {
  AddAllowedSenderRequest,
  type AddAllowedSenderResponse,
  ApprovePairingCodeRequest,
  type ApprovePairingCodeResponse,
  DmPairingServiceClient,
  ListAllowedSendersRequest,
  type ListAllowedSendersResponse,
  type ListChannelsResponse,
  ListPairingRequestsRequest,
  type ListPairingRequestsResponse,
  RejectPairingRequestRequest,
  type RejectPairingRequestResponse,
  RevokeAllowedSenderRequest,
  type RevokeAllowedSenderResponse,
  WatchPairingEventsRequest,
  type WatchPairingEventsResponse,
} from "../../src/gen/pairgate/v1/dm_pairing_service";
import {
  ApproveNodeRequest,
  type ApproveNodeResponse,
  ListNodesRequest,
  type ListNodesResponse,
  ListPendingNodesRequest,
  type ListPendingNodesResponse,
  NodeAdminServiceClient,
  RejectNodeRequest,
  type RejectNodeResponse,
  RenameNodeRequest,
  type RenameNodeResponse,
  RevokeNodeRequest,
  type RevokeNodeResponse,
  type WatchNodeEventsResponse,
  type GetNodeTlsResponse,
  CreateNodeInviteRequest,
  type CreateNodeInviteResponse,
  type ListNodeInvitesResponse,
  RevokeNodeInviteRequest,
  type RevokeNodeInviteResponse,
} from "../../src/gen/pairgate/v1/node_admin_service";
import {
  AdminServiceClient,
  type BackupResponse,
  type GetDaemonStatusResponse,
  type GetStoreStatusResponse,
  ImportStateRequest,
  type ImportStateResponse,
  ListAuditRecordsRequest,
  type ListAuditRecordsResponse,
  type VerifyStoreResponse,
} from "../../src/gen/pairgate/v1/admin_service";
import { fromServiceError } from "./errors";
import { type CallSettings, callUnary, openStream, type ServerStream } from "./rpc";

/**
 * The socket a chat adapter should use: `$PAIRGATE_ADAPTER_SOCKET`, else `<home>/adapter.sock` with
 * home = `$PAIRGATE_HOME`, else `~/.pairgate`. The adapter socket serves only DmAccessService
 * (`client.dmAccess`); every owner call there fails with UNIMPLEMENTED.
 */
export function defaultAdapterSocket(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PAIRGATE_ADAPTER_SOCKET !== undefined && env.PAIRGATE_ADAPTER_SOCKET !== "") return env.PAIRGATE_ADAPTER_SOCKET;
  return join(env.PAIRGATE_HOME ?? join(homedir(), ".pairgate"), "adapter.sock");
}

/** Options of {@link PairgateClient}. */
export interface PairgateClientOptions {
  /**
   * The daemon's socket: for a chat adapter the adapter socket (`<home>/adapter.sock`, see
   * {@link defaultAdapterSocket}); for the owner's tools the operator socket (`<home>/pairgate.sock`).
   */
  socketPath: string;
  /** Deadline of each unary call in ms. @default 10000 */
  deadlineMs?: number;
}

/** The calls channel adapters make (pairgate.v1.DmAccessService). */
export interface DmAccessApi {
  checkInbound(request: Partial<CheckInboundRequest>): Promise<CheckInboundResponse>;
  subscribeNotifications(request: Partial<SubscribeNotificationsRequest>): ServerStream<SubscribeNotificationsResponse>;
  ackNotification(notificationId: string): Promise<void>;
}

/** The owner's DM pairing calls (pairgate.v1.DmPairingService). */
export interface DmPairingApi {
  listPairingRequests(request: Partial<ListPairingRequestsRequest>): Promise<ListPairingRequestsResponse>;
  approvePairingCode(request: Partial<ApprovePairingCodeRequest>): Promise<ApprovePairingCodeResponse>;
  rejectPairingRequest(request: Partial<RejectPairingRequestRequest>): Promise<RejectPairingRequestResponse>;
  listAllowedSenders(request: Partial<ListAllowedSendersRequest>): Promise<ListAllowedSendersResponse>;
  addAllowedSender(request: Partial<AddAllowedSenderRequest>): Promise<AddAllowedSenderResponse>;
  revokeAllowedSender(request: Partial<RevokeAllowedSenderRequest>): Promise<RevokeAllowedSenderResponse>;
  listChannels(): Promise<ListChannelsResponse>;
  watchPairingEvents(request: Partial<WatchPairingEventsRequest>): ServerStream<WatchPairingEventsResponse>;
}

/** The owner's node pairing calls (pairgate.v1.NodeAdminService). No response ever contains a token. */
export interface NodeAdminApi {
  listPendingNodes(request: Partial<ListPendingNodesRequest>): Promise<ListPendingNodesResponse>;
  approveNode(requestId: string): Promise<ApproveNodeResponse>;
  rejectNode(requestId: string): Promise<RejectNodeResponse>;
  listNodes(request: Partial<ListNodesRequest>): Promise<ListNodesResponse>;
  renameNode(nodeId: string, displayName: string): Promise<RenameNodeResponse>;
  revokeNode(nodeId: string): Promise<RevokeNodeResponse>;
  watchNodeEvents(): ServerStream<WatchNodeEventsResponse>;
  /** The node listener's TLS certificate: SPKI pin, names, validity. FailedPreconditionError without TLS. */
  getNodeTls(): Promise<GetNodeTlsResponse>;
  /** Creates an invite; the response carries its secret and URI, once. */
  createNodeInvite(request: Partial<CreateNodeInviteRequest>): Promise<CreateNodeInviteResponse>;
  /** The live invites (never a secret). */
  listNodeInvites(): Promise<ListNodeInvitesResponse>;
  /** Revokes an invite. NotFoundError when no live invite has this id. */
  revokeNodeInvite(inviteId: string): Promise<RevokeNodeInviteResponse>;
}

/** The owner's calls about the daemon itself (pairgate.v1.AdminService). */
export interface AdminApi {
  getStoreStatus(): Promise<GetStoreStatusResponse>;
  /** The backup file's bytes, in order. */
  backup(): ServerStream<BackupResponse>;
  verifyStore(): Promise<VerifyStoreResponse>;
  /** Version, uptime, listeners, TLS pin, store state and counts, in one call. */
  getDaemonStatus(): Promise<GetDaemonStatusResponse>;
  /** One page of the audit trail, oldest first. */
  listAuditRecords(request: Partial<ListAuditRecordsRequest>): Promise<ListAuditRecordsResponse>;
  /** Imports senders and pending requests in one atomic write (idempotent). */
  importState(request: Partial<ImportStateRequest>): Promise<ImportStateResponse>;
}

/**
 * PairgateClient is the promise-based client of the daemon's operator socket, used by the CLI and by
 * automation. Every method rejects with a typed {@link PairgateError}; when nothing listens on the
 * socket, with DaemonNotRunningError.
 */
export class PairgateClient {
  readonly socketPath: string;
  readonly dmAccess: DmAccessApi;
  readonly dmPairing: DmPairingApi;
  readonly nodeAdmin: NodeAdminApi;
  readonly admin: AdminApi;
  /** Shared call settings; sibling service clients (e.g. node admin) reuse them. */
  readonly settings: CallSettings;
  readonly #clients: Client[] = [];
  readonly #access: DmAccessServiceClient;

  constructor(options: PairgateClientOptions) {
    this.socketPath = options.socketPath;
    const socketPath = options.socketPath;
    this.settings = {
      deadlineMs: options.deadlineMs ?? 10_000,
      mapError: (err: ServiceError) => fromServiceError(err, socketPath),
    };
    this.#access = new DmAccessServiceClient(`unix:${socketPath}`, credentials.createInsecure());
    this.#clients.push(this.#access);
    const pairing = this.service(DmPairingServiceClient);
    const s = this.settings;
    const access = this.#access;

    this.dmAccess = {
      checkInbound: (r) => callUnary(access.checkInbound.bind(access), CheckInboundRequest.fromPartial(r), s),
      subscribeNotifications: (r) =>
        openStream(access.subscribeNotifications.bind(access), SubscribeNotificationsRequest.fromPartial(r), s),
      ackNotification: async (notificationId) => {
        await callUnary(access.ackNotification.bind(access), AckNotificationRequest.fromPartial({ notificationId }), s);
      },
    };
    this.dmPairing = {
      listPairingRequests: (r) =>
        callUnary(pairing.listPairingRequests.bind(pairing), ListPairingRequestsRequest.fromPartial(r), s),
      approvePairingCode: (r) =>
        callUnary(pairing.approvePairingCode.bind(pairing), ApprovePairingCodeRequest.fromPartial(r), s),
      rejectPairingRequest: (r) =>
        callUnary(pairing.rejectPairingRequest.bind(pairing), RejectPairingRequestRequest.fromPartial(r), s),
      listAllowedSenders: (r) =>
        callUnary(pairing.listAllowedSenders.bind(pairing), ListAllowedSendersRequest.fromPartial(r), s),
      addAllowedSender: (r) => callUnary(pairing.addAllowedSender.bind(pairing), AddAllowedSenderRequest.fromPartial(r), s),
      revokeAllowedSender: (r) =>
        callUnary(pairing.revokeAllowedSender.bind(pairing), RevokeAllowedSenderRequest.fromPartial(r), s),
      listChannels: () => callUnary(pairing.listChannels.bind(pairing), {}, s),
      watchPairingEvents: (r) =>
        openStream(pairing.watchPairingEvents.bind(pairing), WatchPairingEventsRequest.fromPartial(r), s),
    };
    const admin = this.service(NodeAdminServiceClient);
    this.nodeAdmin = {
      listPendingNodes: (r) => callUnary(admin.listPendingNodes.bind(admin), ListPendingNodesRequest.fromPartial(r), s),
      approveNode: (requestId) => callUnary(admin.approveNode.bind(admin), ApproveNodeRequest.fromPartial({ requestId }), s),
      rejectNode: (requestId) => callUnary(admin.rejectNode.bind(admin), RejectNodeRequest.fromPartial({ requestId }), s),
      listNodes: (r) => callUnary(admin.listNodes.bind(admin), ListNodesRequest.fromPartial(r), s),
      renameNode: (nodeId, displayName) =>
        callUnary(admin.renameNode.bind(admin), RenameNodeRequest.fromPartial({ nodeId, displayName }), s),
      revokeNode: (nodeId) => callUnary(admin.revokeNode.bind(admin), RevokeNodeRequest.fromPartial({ nodeId }), s),
      watchNodeEvents: () => openStream(admin.watchNodeEvents.bind(admin), {}, s),
      getNodeTls: () => callUnary(admin.getNodeTls.bind(admin), {}, s),
      createNodeInvite: (r) => callUnary(admin.createNodeInvite.bind(admin), CreateNodeInviteRequest.fromPartial(r), s),
      listNodeInvites: () => callUnary(admin.listNodeInvites.bind(admin), {}, s),
      revokeNodeInvite: (inviteId) =>
        callUnary(admin.revokeNodeInvite.bind(admin), RevokeNodeInviteRequest.fromPartial({ inviteId }), s),
    };
    const daemonAdmin = this.service(AdminServiceClient);
    this.admin = {
      getStoreStatus: () => callUnary(daemonAdmin.getStoreStatus.bind(daemonAdmin), {}, s),
      backup: () => openStream(daemonAdmin.backup.bind(daemonAdmin), {}, s),
      verifyStore: () => callUnary(daemonAdmin.verifyStore.bind(daemonAdmin), {}, { ...s, deadlineMs: 0 }),
      getDaemonStatus: () => callUnary(daemonAdmin.getDaemonStatus.bind(daemonAdmin), {}, s),
      listAuditRecords: (r) => callUnary(daemonAdmin.listAuditRecords.bind(daemonAdmin), ListAuditRecordsRequest.fromPartial(r), s),
      importState: (r) => callUnary(daemonAdmin.importState.bind(daemonAdmin), ImportStateRequest.fromPartial(r), { ...s, deadlineMs: 0 }),
    };
  }

  /**
   * Creates another generated service client on this client's channel (one connection for all
   * services). Closed by {@link close}.
   */
  service<C extends Client>(ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options: object) => C): C {
    const client = new ctor(`unix:${this.socketPath}`, credentials.createInsecure(), {
      channelOverride: this.#access.getChannel(),
    });
    this.#clients.push(client);
    return client;
  }

  /** Closes the connection. */
  close(): void {
    for (const c of this.#clients) c.close();
  }
}
