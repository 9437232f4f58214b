import { z } from "zod";
import { FailedPreconditionError, UnauthenticatedError } from "../../domain/errors";
import { hasInvisibleCharacters } from "../../domain/node-input";
import { deviceInfoOf } from "../../domain/node-records";
import type {
  NodeEvent,
  NodePairing,
  NodePairingStatus as DomainStatus,
  NodeScopedEvent,
  PairedNodeView,
  PendingNodeView,
} from "../../domain/node-pairing";
import {
  type NodeAdminServiceServer,
  NodeEventType,
  NodeTokenState,
  type PairedNode,
  type PendingNode,
} from "../../gen/pairgate/v1/node_admin_service";
import {
  type NodePairingServiceServer,
  NodePairingStatus,
  WatchNodeEventType,
} from "../../gen/pairgate/v1/node_pairing_service";
import type { CertificateInfo } from "./self-signed-cert";
import { nodeInviteHandlers } from "./node-invite-handlers";
import { type CallContext, type HandlerEnv, serverStream, unary, untilAborted } from "./handler";
import { type ConnectOptions, connectHandler } from "./node-connect";
import { peerAddress } from "./peer-address";
import type { PeerLimits } from "./peer-limits";
import { pagingFields, shortText, validate } from "./validate";

/** Text without control or invisible format characters (the domain trims and applies exact limits). */
const plainText = (max: number) =>
  shortText(max).refine((s) => !hasInvisibleCharacters(s), "must not contain control or invisible characters");
/** A bytes field of exactly `n` bytes. */
const bytesOf = (n: number) =>
  z.instanceof(Uint8Array, { message: "must be bytes" }).refine((b) => b.length === n, `must be exactly ${n} bytes`);
const nodeId = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters");
const requestId = z.string().regex(/^[0-9a-f]{32}$/, "must be 32 lowercase hex characters");
const nonce = bytesOf(32);
const signature = bytesOf(64);

/** A node-chosen nonce asking for a gateway proof: empty or 16..64 bytes (the domain checks exactly). */
const clientNonce = z.instanceof(Uint8Array, { message: "must be bytes" }).refine((b) => b.length <= 64, "must be at most 64 bytes");
const gatewayInfoSchema = z.object({ clientNonce });
const challengeSchema = z.object({ nodeId, clientNonce });
const requestPairingSchema = z.object({
  publicKey: bytesOf(32),
  displayName: plainText(256),
  platform: plainText(64),
  version: plainText(128),
  deviceFamily: plainText(128),
  modelIdentifier: plainText(128),
  caps: z.array(plainText(128)).max(32, "at most 32 entries"),
  nonce,
  signature,
  inviteId: z.string().regex(/^(?:[0-9a-f]{16})?$/, "must be empty or 16 lowercase hex characters"),
  inviteProof: z.instanceof(Uint8Array, { message: "must be bytes" }).refine((b) => b.length === 0 || b.length === 64, "must be empty or exactly 64 bytes"),
});
const awaitSchema = z.object({ requestId, nodeId });
const claimSchema = z.object({ nodeId, nonce, signature });
const authenticateSchema = z.object({ nodeId, nonce, signature, token: shortText(256) });
const rotateSchema = z.object({ nonce, signature });
const listPendingSchema = z.object({ ...pagingFields, requestIdPrefix: z.string().regex(/^[0-9a-f]{0,32}$/, "must be lowercase hex") });
const listNodesSchema = z.object({ ...pagingFields, nodeIdPrefix: z.string().regex(/^[0-9a-f]{0,64}$/, "must be lowercase hex") });
const requestIdSchema = z.object({ requestId });
const nodeIdSchema = z.object({ nodeId });
const renameSchema = z.object({ nodeId, displayName: plainText(256) });

const STATUS: Record<DomainStatus, NodePairingStatus> = {
  pending: NodePairingStatus.NODE_PAIRING_STATUS_PENDING,
  approved: NodePairingStatus.NODE_PAIRING_STATUS_APPROVED,
  rejected: NodePairingStatus.NODE_PAIRING_STATUS_REJECTED,
  expired: NodePairingStatus.NODE_PAIRING_STATUS_EXPIRED,
};
const EVENT: Record<NodeEvent["type"], NodeEventType> = {
  requested: NodeEventType.NODE_EVENT_TYPE_REQUESTED,
  approved: NodeEventType.NODE_EVENT_TYPE_APPROVED,
  rejected: NodeEventType.NODE_EVENT_TYPE_REJECTED,
  expired: NodeEventType.NODE_EVENT_TYPE_EXPIRED,
  revoked: NodeEventType.NODE_EVENT_TYPE_REVOKED,
  renamed: NodeEventType.NODE_EVENT_TYPE_RENAMED,
};
const TOKEN_STATE: Record<PairedNodeView["tokenState"], NodeTokenState> = {
  "awaiting-claim": NodeTokenState.NODE_TOKEN_STATE_AWAITING_CLAIM,
  issued: NodeTokenState.NODE_TOKEN_STATE_ISSUED,
  active: NodeTokenState.NODE_TOKEN_STATE_ACTIVE,
};
const NODE_EVENT: Partial<Record<NodeScopedEvent["type"], WatchNodeEventType>> = {
  subscribed: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED,
  renamed: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED,
  "token-rotated": WatchNodeEventType.WATCH_NODE_EVENT_TYPE_TOKEN_ROTATED,
  revoked: WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED,
};

/** The bearer session token of a call. Throws UnauthenticatedError when it is missing or malformed. */
function bearer(ctx: CallContext): string {
  const value = ctx.metadata.get("authorization")[0];
  const match = typeof value === "string" ? /^Bearer (pgs_[A-Za-z0-9_-]{43})$/.exec(value) : null;
  if (match === null) throw new UnauthenticatedError("missing or malformed authorization metadata");
  return match[1]!;
}

/** The TCP peer's IP address of a call. */
function remoteIpOf(ctx: CallContext): string {
  return peerAddress(ctx.peer).remoteIp;
}

function pendingNode(r: PendingNodeView): PendingNode {
  return {
    requestId: r.requestId,
    nodeId: r.nodeId,
    publicKey: Buffer.from(r.publicKey, "base64url"),
    ...deviceInfoOf(r),
    remoteIp: r.remoteIp,
    isRepair: r.isRepair,
    createdAtMs: r.createdAtMs,
    refreshedAtMs: r.refreshedAtMs,
    expiresAtMs: r.expiresAtMs,
  };
}

function pairedNode(n: PairedNodeView): PairedNode {
  return {
    nodeId: n.nodeId,
    publicKey: n.publicKey,
    ...deviceInfoOf(n),
    remoteIp: n.remoteIp,
    pairedAtMs: n.pairedAtMs,
    approvedAtMs: n.approvedAtMs,
    approvedVia: n.approvedVia,
    inviteId: n.inviteId,
    tokenState: TOKEN_STATE[n.tokenState],
    tokenIssuedAtMs: n.tokenIssuedAtMs,
    previousTokenExpiresAtMs: n.previousTokenExpiresAtMs,
    lastSeenAtMs: n.lastSeenAtMs,
    activeSessions: n.activeSessions,
  };
}

/**
 * Handlers of pairgate.v1.NodePairingService (called by nodes over TCP). The unauthenticated RPCs
 * first take a token from the peer's bucket; the streams hold a per-peer and per-request/session slot
 * while open (`limits`).
 */
export function nodePairingHandlers(
  nodes: NodePairing,
  env: HandlerEnv,
  limits: PeerLimits,
  connect: ConnectOptions,
): NodePairingServiceServer {
  return {
    connect: connectHandler(nodes, env, limits, connect),
    getGatewayInfo: unary("GetGatewayInfo", env, async (req, ctx) => {
      limits.admit(remoteIpOf(ctx));
      const r = validate(gatewayInfoSchema, req);
      return nodes.gatewayInfo(r.clientNonce);
    }),
    createChallenge: unary("CreateChallenge", env, async (req, ctx) => {
      const remoteIp = remoteIpOf(ctx);
      limits.admit(remoteIp);
      const r = validate(challengeSchema, req);
      return nodes.createChallenge(r.nodeId, remoteIp, r.clientNonce);
    }),
    requestPairing: unary("RequestPairing", env, async (req, ctx) => {
      const origin = peerAddress(ctx.peer);
      limits.admit(origin.remoteIp);
      const r = validate(requestPairingSchema, req);
      const ticket = await nodes.requestPairing(r, origin);
      return {
        requestId: ticket.requestId,
        nodeId: ticket.nodeId,
        status: STATUS[ticket.status],
        expiresAtMs: ticket.expiresAtMs,
        isRepair: ticket.isRepair,
      };
    }),
    awaitPairing: serverStream("AwaitPairing", env, async (req, sink, ctx) => {
      const remoteIp = remoteIpOf(ctx);
      limits.admit(remoteIp);
      const r = validate(awaitSchema, req);
      const release = limits.openStream("AwaitPairing", remoteIp, r.requestId);
      let finish!: () => void;
      const final = new Promise<void>((resolve) => (finish = resolve));
      try {
        const close = await nodes.followRequest(r.requestId, r.nodeId, (u) => {
          sink.send({ status: STATUS[u.status], requestId: u.requestId, expiresAtMs: u.expiresAtMs });
          if (u.status !== "pending") finish();
        });
        try {
          await Promise.race([final, untilAborted(ctx.signal)]);
        } finally {
          close();
        }
      } finally {
        release();
      }
    }),
    claimToken: unary("ClaimToken", env, async (req) => {
      const r = validate(claimSchema, req);
      return nodes.claimToken(r.nodeId, r.nonce, r.signature);
    }),
    authenticate: unary("Authenticate", env, async (req) => {
      const r = validate(authenticateSchema, req);
      return nodes.authenticate(r.nodeId, r.nonce, r.signature, r.token);
    }),
    heartbeat: unary("Heartbeat", env, async (_req, ctx) => nodes.heartbeat(bearer(ctx))),
    watchNode: serverStream("WatchNode", env, async (_req, sink, ctx) => {
      const session = bearer(ctx);
      // The stream cap is checked before the watch starts, so a refused stream sends nothing (not even
      // SUBSCRIBED) before its RESOURCE_EXHAUSTED.
      const release = limits.openStream("WatchNode", remoteIpOf(ctx), session);
      let watch: Awaited<ReturnType<typeof nodes.watchNode>> | undefined;
      try {
        watch = await nodes.watchNode(session, (e) => {
          const type = NODE_EVENT[e.type];
          if (type !== undefined) sink.send({ type, displayName: e.displayName, atMs: e.atMs });
        });
        await Promise.race([watch.ended, untilAborted(ctx.signal)]);
      } finally {
        watch?.close();
        release();
      }
    }),
    rotateToken: unary("RotateToken", env, async (req, ctx) => {
      const session = bearer(ctx);
      const r = validate(rotateSchema, req);
      return nodes.rotateToken(session, r.nonce, r.signature);
    }),
  };
}

/** The node listener's certificate as GetNodeTls reports it (undefined without TLS). */
export type NodeTlsView = () => (CertificateInfo & { auto: boolean; listenAddress: string }) | undefined;

/**
 * Handlers of pairgate.v1.NodeAdminService (the owner's operator API). `listenAddress` is the bound
 * node listener address (invites carry it).
 */
export function nodeAdminHandlers(
  nodes: NodePairing,
  env: HandlerEnv,
  tls: NodeTlsView = () => undefined,
  listenAddress: () => string = () => "127.0.0.1:7421",
): NodeAdminServiceServer {
  return {
    ...nodeInviteHandlers(nodes, env, { address: listenAddress, tlsSpkiSha256: () => tls()?.spkiSha256 }),
    getNodeTls: unary("GetNodeTls", env, async () => {
      const t = tls();
      if (t === undefined) throw new FailedPreconditionError('the node listener has no TLS (set nodes.tls to "auto" or to {"cert", "key"})');
      return {
        spkiSha256: t.spkiSha256,
        dnsNames: t.dnsNames,
        ipAddresses: t.ipAddresses,
        notBeforeMs: t.notBeforeMs,
        notAfterMs: t.notAfterMs,
        certificateSha256: t.certificateSha256,
        certificatePem: t.certificatePem,
        auto: t.auto,
        listenAddress: t.listenAddress,
      };
    }),
    listPendingNodes: unary("ListPendingNodes", env, async (req) => {
      const r = validate(listPendingSchema, req);
      const page = await nodes.listPending(r, r.requestIdPrefix);
      return { requests: page.items.map(pendingNode), nextPageToken: page.nextPageToken };
    }),
    approveNode: unary("ApproveNode", env, async (req) => {
      const r = validate(requestIdSchema, req);
      return { node: pairedNode(await nodes.approve(r.requestId, "owner", env.role ?? "owner")) };
    }),
    rejectNode: unary("RejectNode", env, async (req) => {
      const r = validate(requestIdSchema, req);
      return { request: pendingNode(await nodes.reject(r.requestId, env.role ?? "owner")) };
    }),
    listNodes: unary("ListNodes", env, async (req) => {
      const r = validate(listNodesSchema, req);
      const page = await nodes.listNodes(r, r.nodeIdPrefix);
      return { nodes: page.items.map(pairedNode), nextPageToken: page.nextPageToken };
    }),
    renameNode: unary("RenameNode", env, async (req) => {
      const r = validate(renameSchema, req);
      return { node: pairedNode(await nodes.rename(r.nodeId, r.displayName, env.role ?? "owner")) };
    }),
    revokeNode: unary("RevokeNode", env, async (req) => {
      const r = validate(nodeIdSchema, req);
      return { node: pairedNode(await nodes.revoke(r.nodeId, env.role ?? "owner")) };
    }),
    watchNodeEvents: serverStream("WatchNodeEvents", env, async (_req, sink, ctx) => {
      const unsubscribe = nodes.events.subscribe((e) => {
        sink.send({
          type: EVENT[e.type],
          requestId: e.requestId,
          nodeId: e.nodeId,
          displayName: e.displayName,
          platform: e.platform,
          remoteIp: e.remoteIp,
          isRepair: e.isRepair,
          atMs: e.atMs,
          approvedVia: e.approvedVia,
          inviteId: e.inviteId,
        });
      });
      try {
        await untilAborted(ctx.signal);
      } finally {
        unsubscribe();
      }
    }),
  };
}
