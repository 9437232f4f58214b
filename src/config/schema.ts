import { isIP } from "node:net";
import { z } from "zod";
import { SUPPORTED_CHANNELS } from "../domain/channels";
import { REPLY_PLACEHOLDERS, unknownPlaceholders } from "../domain/reply-text";

const dmPolicy = z.enum(["pairing", "allowlist", "open", "disabled"]);

/** An allowFrom entry: a sender id (numbers accepted for numeric ids) or "*". */
const allowEntry = z.union([z.string().min(1).max(256), z.number().int().nonnegative()]).transform(String);

const accountSchema = z.strictObject({
  /** Policy of this account; inherits the channel's. */
  dmPolicy: dmPolicy.optional(),
  /** Allowed senders of this account; inherits the channel's. */
  allowFrom: z.array(allowEntry).max(10_000).optional(),
});

const channelSchema = z.strictObject({
  /** Policy for unknown senders. @default "pairing" */
  dmPolicy: dmPolicy.optional(),
  /** Senders always allowed; "*" (only with dmPolicy "open") allows everyone. */
  allowFrom: z.array(allowEntry).max(10_000).optional(),
  /** Per-account overrides, keyed by account id ([a-z0-9_-]{1,64}). */
  accounts: z.record(z.string(), accountSchema).optional(),
});

/** The `channels` section: one optional entry per supported channel; any other key is an error. */
const channelsSchema = z.strictObject(
  Object.fromEntries(SUPPORTED_CHANNELS.map((c) => [c, channelSchema.optional()])) as Record<
    string,
    z.ZodOptional<typeof channelSchema>
  >,
);

const dmSchema = z.strictObject({
  /** How long a pending pairing request lives, from creation. @default 3600000 (1 h) */
  pendingTtlMs: z.number().int().min(60_000).max(7 * 24 * 3600_000).default(3600_000),
  /** Pending requests per channel account. @default 3 */
  maxPending: z.number().int().min(1).max(100).default(3),
  /** Messages sent this long before daemon start get no reply. @default 30000 */
  historyGraceMs: z.number().int().min(0).max(24 * 3600_000).default(30_000),
  /** How often expired requests are swept (and "expired" events emitted). @default 10000 */
  sweepIntervalMs: z.number().int().min(100).max(3600_000).default(10_000),
  /** What an unknown sender who gets a code is sent: the full text, only the code, or nothing. @default "branded" */
  unpairedResponse: z.enum(["branded", "code-only", "silent"]).default("branded"),
  /** The branded reply's text with {code} {channel} {idLine} {approveCommand} {product}; unset = the built-in text. */
  replyTemplate: z
    .string()
    .min(1)
    .max(2000)
    .refine((t) => unknownPlaceholders(t).length === 0, {
      error: (issue) =>
        `unknown placeholder(s) ${unknownPlaceholders(String(issue.input)).map((n) => `{${n}}`).join(", ")}; ` +
        `use ${REPLY_PLACEHOLDERS.map((n) => `{${n}}`).join(" ")}`,
    })
    .optional(),
  /** Pending requests across every channel account together (the same "queue full" answer). @default 100 */
  maxPendingTotal: z.number().int().min(1).max(100_000).default(100),
  /** Open SubscribeNotifications plus WatchPairingEvents streams per connection on a unix socket. @default 16 */
  streamsPerConnection: z.number().int().min(1).max(1000).default(16),
});

/**
 * `adapters`: the adapter socket, which serves only DmAccessService (and health) to chat adapters,
 * so an adapter can check senders and deliver notices but never approve anyone.
 */
const adaptersSchema = z.strictObject({
  /** Path of the adapter socket (at most 100 bytes). @default "<directory of socketPath>/adapter.sock" */
  socketPath: z.string().min(1).max(100).optional(),
  /** Group (name or numeric gid) owning the adapter socket (mode 0660). @default the daemon's group */
  socketGroup: z.union([z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, "must be a group name or a numeric gid"), z.number().int().min(0)]).optional(),
  /** Channels the adapter socket may query; unset = every channel. Others get PERMISSION_DENIED. */
  channels: z.array(z.enum(SUPPORTED_CHANNELS as [string, ...string[]])).min(1).max(64).optional(),
});

const count = (max: number) => z.number().int().min(1).max(max);
const ms = (min: number, max: number) => z.number().int().min(min).max(max);

/** `nodes.invites`: phone onboarding by invite (docs/protocol.md §3b). */
const nodeInvitesSchema = z.strictObject({
  /** Live (unexpired) invites at once; CreateNodeInvite beyond that is RESOURCE_EXHAUSTED. @default 16 */
  maxActive: z.number().int().min(1).max(1000).default(16),
});

/**
 * Limits of the node listener, the one port anyone on the network may reach. Quotas count per peer
 * network (an IPv4 address, an IPv6 /64) so one address cannot spend another's share; RPC quotas
 * answer RESOURCE_EXHAUSTED with a `retry-after-ms` trailer.
 */
const nodeLimitsSchema = z.strictObject({
  /** Token-bucket refill per peer for the unauthenticated RPCs (GetGatewayInfo, CreateChallenge, RequestPairing, AwaitPairing). @default 10 */
  rpcPerSecond: z.number().positive().max(1_000_000).default(10),
  /** Token-bucket size (burst) of those RPCs per peer. @default 40 */
  rpcBurst: count(1_000_000).default(40),
  /** Outstanding challenges per (node id, peer); one more evicts that pair's own oldest. @default 4 */
  challengesPerNodePerPeer: count(64).default(4),
  /** Outstanding challenges per peer over all node ids. @default 64 */
  challengesPerPeer: count(100_000).default(64),
  /** Outstanding challenges for paired node ids (a pool unknown ids cannot drain). @default 10000 */
  challengesPaired: count(1_000_000).default(10_000),
  /** Outstanding challenges for unknown node ids. @default 10000 */
  challengesUnknown: count(1_000_000).default(10_000),
  /** Pending pairing requests per peer. @default 4 */
  pendingPerPeer: count(1000).default(4),
  /** Open AwaitPairing streams per pairing request. @default 4 */
  awaitStreamsPerRequest: count(1000).default(4),
  /** Open AwaitPairing streams per peer. @default 16 */
  awaitStreamsPerPeer: count(100_000).default(16),
  /** Open WatchNode streams per session. @default 2 */
  watchStreamsPerSession: count(1000).default(2),
  /** Open WatchNode streams per peer. @default 32 */
  watchStreamsPerPeer: count(100_000).default(32),
  /** Open Connect streams per peer, authenticated or not. @default 32 */
  connectStreamsPerPeer: count(100_000).default(32),
  /** Authenticated Connect streams per node; one more ends the node's oldest (FAILED_PRECONDITION). @default 4 */
  connectStreamsPerNode: count(64).default(4),
  /** Open TCP connections per peer; more are closed at once. @default 64 */
  connectionsPerPeer: count(100_000).default(64),
  /** Concurrent streams per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). @default 16 */
  streamsPerConnection: count(1000).default(16),
  /** A new connection that has not completed an RPC successfully by then is closed. @default 10000 */
  firstRpcDeadlineMs: ms(100, 600_000).default(10_000),
  /** A call whose request message has not fully arrived by then ends with DEADLINE_EXCEEDED. @default 10000 */
  requestTimeoutMs: ms(100, 600_000).default(10_000),
  /** A connection without calls for this long is closed (GOAWAY). @default 300000 */
  connectionIdleMs: ms(1000, 24 * 3600_000).default(300_000),
  /** A connection older than this is asked to reconnect (GOAWAY). @default 1800000 */
  connectionAgeMs: ms(1000, 7 * 24 * 3600_000).default(1_800_000),
  /** After GOAWAY for age, calls still open get this long before the connection is closed. @default 960000 */
  connectionAgeGraceMs: ms(0, 24 * 3600_000).default(960_000),
  /** HTTP/2 PING interval on a quiet connection. @default 30000 */
  keepaliveMs: ms(1000, 3600_000).default(30_000),
  /** A connection that does not answer a PING within this is closed. @default 10000 */
  keepaliveTimeoutMs: ms(100, 600_000).default(10_000),
});

/** The validated `nodes.limits`. */
export type NodeLimits = z.infer<typeof nodeLimitsSchema>;

const nodesSchema = z.strictObject({
  /** host:port of the node-facing TCP listener (NodePairingService). Port 0 picks a free port. @default "127.0.0.1:7421" */
  listen: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be "host:port" (IPv6 as "[::1]:7421")')
    .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be at most 65535")
    .default("127.0.0.1:7421"),
  /** TLS for the node listener: certificate and key PEM paths, or "auto" (self-signed, created on first start). */
  tls: z.union([z.literal("auto"), z.strictObject({ cert: z.string().min(1), key: z.string().min(1) })]).optional(),
  /**
   * Extra DNS names and IP addresses the "auto" certificate must carry (e.g. "gateway.local",
   * "192.168.1.10", a VPN address), besides localhost, loopback and the listen address (every
   * interface address when listening on 0.0.0.0 or ::). @default []
   */
  tlsNames: z
    .array(
      z
        .string()
        .refine(
          (s) => isIP(s) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s),
          "must be a DNS name or an IP address",
        ),
    )
    .max(64)
    .default([]),
  /** Allow a non-loopback `listen` without TLS (node tokens then cross the network in clear). @default false */
  insecure: z.boolean().default(false),
  /** Approve pairing requests from loopback peers without asking the owner. @default false */
  autoApproveLoopback: z.boolean().default(false),
  /** Pending node pairing requests at once; more get RESOURCE_EXHAUSTED. @default 32 */
  maxPending: z.number().int().min(1).max(1000).default(32),
  /** Per-peer quotas, reserved capacity and connection hygiene of the node listener. */
  limits: nodeLimitsSchema.default(() => nodeLimitsSchema.parse({})),
  /** Node invites (`pairgate nodes invite`); take effect on restart. */
  invites: nodeInvitesSchema.default(() => nodeInvitesSchema.parse({})),
  /** The gateway's display name, shown to nodes. @default "pairgate" */
  name: z.string().min(1).max(64).default("pairgate"),
  /** How often expired node requests are swept (and "expired" events emitted). @default 10000 */
  sweepIntervalMs: z.number().int().min(100).max(3600_000).default(10_000),
});

// --- storage (issue 12): which store the daemon uses -------------------------------------------------

/**
 * `storage`: the embedded LevelDB (default) or a PostgreSQL shared by several daemons. The URL may come
 * from `PAIRGATE_STORAGE_URL` instead (it wins over the file, so passwords stay out of files).
 */
const storageSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    /** The embedded LevelDB in `<home>/db`. */
    kind: z.literal("level"),
  }),
  z.strictObject({
    /** A PostgreSQL database shared by several daemons. */
    kind: z.literal("postgres"),
    /** `postgres://user:password@host:port/database`; PAIRGATE_STORAGE_URL overrides it. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must start with "postgres://" or "postgresql://"').max(2048).optional(),
    /** Tenant prefix, for several gateways in one database ([a-z0-9_-], at most 64). @default "" */
    tenant: z.string().regex(/^[a-z0-9_-]{1,64}$/, "must be 1-64 of a-z, 0-9, _ and -").optional(),
  }),
]);

// -----------------------------------------------------------------------------------------------------

/** `audit`: retention of the audit trail, swept at start, on reload and every 10 minutes. */
const auditSchema = z.strictObject({
  /** Records older than this many days are deleted. @default 90 */
  maxAgeDays: z.number().int().min(1).max(3650).default(90),
  /** At most this many records are kept (the oldest go first). @default 100000 */
  maxRecords: z.number().int().min(100).max(10_000_000).default(100_000),
});

/**
 * The whole config file. Strict: unknown keys are errors. Every field is optional; `{}` (or no file)
 * gives the embedded default: every channel on dmPolicy "pairing".
 */
export const configSchema = z.strictObject({
  /** Log verbosity. @default "info" */
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Operator unix socket path. @default "<home>/pairgate.sock" */
  socketPath: z.string().min(1).max(100).optional(),
  /** DM pairing limits. */
  dm: dmSchema.default(() => dmSchema.parse({})),
  /** The adapter socket (DmAccessService only). */
  adapters: adaptersSchema.default(() => adaptersSchema.parse({})),
  /** Node pairing: the node listener and its limits. */
  nodes: nodesSchema.default(() => nodesSchema.parse({})),
  /** Per-channel DM policies. */
  channels: channelsSchema.default({}),
  /** Retention of the audit trail. */
  audit: auditSchema.default(() => auditSchema.parse({})),
  /** Where state is stored. @default {"kind": "level"} */
  storage: storageSchema.default({ kind: "level" }),
});

/** The validated config. */
export type Config = z.infer<typeof configSchema>;
