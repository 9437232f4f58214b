import type { CollectionName } from "../domain/store";
import type { SharedCollectionName } from "../domain/shared-store";

/**
 * The on-disk layout, version 1.
 *
 * One LevelDB database in `<home>/db`. Each collection is a sublevel whose keys LevelDB stores as
 * `!<sublevel>!<key>`; values are JSON. Key parts are joined with NUL (U+0000); ids never contain
 * control characters, so the layout is unambiguous and a scope's keys form one contiguous range.
 *
 * | sublevel          | key                                                   | value                          |
 * |-------------------|-------------------------------------------------------|--------------------------------|
 * | `meta`            | `schema_version`                                      | number (1)                     |
 * | `dm_requests`     | `channel NUL account NUL senderId`                    | DmRequestRecord                |
 * | `dm_codes`        | `channel NUL account NUL CODE`                        | { senderId }                   |
 * | `dm_expiry`       | `expiresAtMs(16 digits) NUL channel NUL account NUL senderId` | { channel, accountId, senderId } |
 * | `dm_allow`        | `channel NUL account NUL senderId`                    | DmAllowRecord                  |
 * | `dm_outbox`       | `channel NUL account NUL createdAtMs(16 digits).rand` | DmOutboxRecord                 |
 * | `dm_scope_stats`  | `channel NUL account NUL`                             | { approvedCount }              |
 * | `meta`            | `gateway_identity`                                    | { version, privateKeyPkcs8, createdAtMs } |
 * | `node_requests`   | `requestId` (32 lowercase hex)                        | NodeRequestRecord              |
 * | `node_request_by_node` | `nodeId` (64 lowercase hex)                      | { requestId }                  |
 * | `node_request_expiry`  | `expiresAtMs(16 digits) NUL requestId`           | { requestId }                  |
 * | `nodes`           | `nodeId` (64 lowercase hex)                           | NodeRecord (token SHA-256 only) |
 * | `audit`           | `atMs(16 digits) . sequence(8 hex) . random(8 hex)`   | AuditRecord (never a secret)   |
 * | `node_invites`    | `inviteId` (16 lowercase hex)                         | NodeInviteRecord (public verification key only) |
 *
 * `audit` and `node_invites` were added within version 1: additive (an older pairgate never reads
 * them; a store without them simply has no audit records or invites).
 *
 * Changing any of this requires bumping {@link SCHEMA_VERSION} and writing a migration.
 */
export const SCHEMA_VERSION = 1;

/** Sublevel name of each collection. */
export const SUBLEVELS: Readonly<Record<CollectionName, string>> = {
  dmRequests: "dm_requests",
  dmCodes: "dm_codes",
  dmExpiry: "dm_expiry",
  dmAllow: "dm_allow",
  dmOutbox: "dm_outbox",
  dmScopeStats: "dm_scope_stats",
  nodeRequests: "node_requests",
  nodeRequestByNode: "node_request_by_node",
  nodeRequestExpiry: "node_request_expiry",
  nodes: "nodes",
  audit: "audit",
  nodeInvites: "node_invites",
};

/** Sublevel of store metadata (schema version, gateway identity). */
export const META_SUBLEVEL = "meta";
/** Key of the schema version inside {@link META_SUBLEVEL}. */
export const SCHEMA_VERSION_KEY = "schema_version";

/**
 * Shared-store port on LevelDB (src/storage/level-shared-store.ts), additive to version 1.
 *
 * The port's collections use the sublevels above (`meta` for the `meta` collection); values stay plain
 * JSON, so both ports read the same records. Records written with an expiry also get two index entries,
 * written in the same batch as the record:
 *
 * | sublevel      | key                                                      | value                     |
 * |---------------|----------------------------------------------------------|---------------------------|
 * | `x_expiry`    | `[tenant NUL] collection NUL expiresAtMs(16 digits) NUL key` | { key }               |
 * | `x_expiry_of` | `[tenant NUL] collection NUL key`                         | expiresAtMs (number)      |
 *
 * A store opened with a tenant prefixes every key (collections and both indexes) with `tenant NUL`.
 * One database holds either the untenanted default or tenants, never both (an untenanted range scan
 * would see tenants' keys).
 */
export const SHARED_SUBLEVELS: Readonly<Record<SharedCollectionName, string>> = {
  ...SUBLEVELS,
  meta: META_SUBLEVEL,
  // Used only where several daemons share a store (PostgreSQL); the embedded store keeps them in memory.
  nodeChallenges: "x_node_challenges",
  nodeSessions: "x_node_sessions",
};
/** Expiry order of records with an expiry (shared-store port). */
export const EXPIRY_SUBLEVEL = "x_expiry";
/** A record's current expiry, to find its `x_expiry` entry on overwrite or delete (shared-store port). */
export const EXPIRY_OF_SUBLEVEL = "x_expiry_of";
