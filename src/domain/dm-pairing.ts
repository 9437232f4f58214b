import type { AuditLog, AuditRole } from "./audit-log";
import { addAllowed, listAllowed, listChannels, revokeAllowed } from "./dm-allowlist";
import { approve, listRequests, reject, sweepExpired } from "./dm-approval";
import { DmContext, type DmLiveSettings, type DmPairingOptions } from "./dm-context";
import { importState, type ImportInput, type ImportSummary } from "./dm-import";
import { checkInbound } from "./dm-inbound";
import { ackNotification, openNotificationFeed } from "./dm-outbox";
import type {
  AllowedSender,
  ApprovalResult,
  CallerRole,
  ChannelStatus,
  InboundMessage,
  InboundVerdict,
  Notification,
  PairingEvent,
  PendingRequest,
} from "./dm-types";
import type { EventHub } from "./event-hub";
import type { Page, PageRequest } from "./paging";

export {
  DEFAULT_MAX_PENDING_TOTAL,
  DEFAULT_HISTORY_GRACE_MS,
  DEFAULT_MAX_PENDING,
  DEFAULT_PENDING_TTL_MS,
  type DmLiveSettings,
  type DmPairingOptions,
} from "./dm-context";
export { MAX_META_ENTRIES, MAX_META_KEY_LENGTH, MAX_META_VALUE_LENGTH, QUEUE_FULL_LOG_INTERVAL_MS, sanitizeMeta } from "./dm-inbound";
export type * from "./dm-types";
export { MAX_IMPORT_ENTRIES, type ImportInput, type ImportSkip, type ImportSummary } from "./dm-import";

/**
 * DmPairing is the DM pairing engine: it decides on inbound messages, issues and approves pairing codes,
 * keeps the per channel account allowlist and the notification outbox. It is a facade over the use-case
 * modules (dm-inbound, dm-approval, dm-allowlist, dm-outbox), which share one {@link DmContext}.
 *
 * Every state transition is one atomic store write; grants, rejections and revocations are synced.
 * Mutations of one channel account are serialized in process, so concurrent messages from one sender
 * get one code and two approvals of one code grant once.
 */
export class DmPairing {
  readonly #ctx: DmContext;

  constructor(options: DmPairingOptions) {
    this.#ctx = new DmContext(options);
  }

  /** Resolves once the engine follows the store's change feed (events of other daemons). */
  ready(): Promise<void> {
    return this.#ctx.ready();
  }

  /** Scope keys with an adapter subscribed at this daemon now (for the shared store's presence records). */
  adapterScopes(): string[] {
    return [...this.#ctx.feeds].filter(([, hub]) => hub.size > 0).map(([key]) => key);
  }

  /** Stops following the change feed (daemon stop). */
  close(): void {
    this.#ctx.close();
  }

  /** Applies a config reload: policies, allowFrom, limits and reply text, atomically. See {@link DmContext.reconfigure}. */
  reconfigure(settings: DmLiveSettings): void {
    this.#ctx.reconfigure(settings);
  }

  /** The audit trail (listing, retention sweeps, records of actions outside this engine). */
  get audit(): AuditLog {
    return this.#ctx.audit;
  }

  /** Pairing events (requested, approved, rejected, expired, revoked). */
  get events(): EventHub<PairingEvent> {
    return this.#ctx.events;
  }

  /** See {@link checkInbound}. */
  checkInbound(message: InboundMessage): Promise<InboundVerdict> {
    return checkInbound(this.#ctx, message);
  }

  /** See {@link listRequests}. */
  listRequests(channel: string, accountId: string, page: PageRequest): Promise<Page<PendingRequest>> {
    return listRequests(this.#ctx, channel, accountId, page);
  }

  /** See {@link approve}; `role` is the socket the call came in on (misses are counted per role). */
  approve(channel: string, accountId: string, rawCode: string, notify: boolean, role: CallerRole = "owner"): Promise<ApprovalResult> {
    return approve(this.#ctx, channel, accountId, rawCode, notify, role);
  }

  /** See {@link reject}. */
  reject(channel: string, accountId: string, rawCode: string, role: CallerRole = "owner"): Promise<PendingRequest> {
    return reject(this.#ctx, channel, accountId, rawCode, role);
  }

  /** See {@link listAllowed}. */
  listAllowed(channel: string, accountId: string, page: PageRequest): Promise<Page<AllowedSender>> {
    return listAllowed(this.#ctx, channel, accountId, page);
  }

  /** See {@link addAllowed}. */
  addAllowed(channel: string, accountId: string, rawSender: string, role: AuditRole = "owner"): Promise<{ sender: AllowedSender; created: boolean }> {
    return addAllowed(this.#ctx, channel, accountId, rawSender, role);
  }

  /** See {@link revokeAllowed}. */
  revokeAllowed(channel: string, accountId: string, rawSender: string, role: AuditRole = "owner"): Promise<AllowedSender> {
    return revokeAllowed(this.#ctx, channel, accountId, rawSender, role);
  }

  /** See {@link importState}. */
  importState(input: ImportInput, role: AuditRole = "owner"): Promise<ImportSummary> {
    return importState(this.#ctx, input, role);
  }

  /** See {@link listChannels}. */
  listChannels(): Promise<ChannelStatus[]> {
    return listChannels(this.#ctx);
  }

  /** See {@link openNotificationFeed}. */
  openNotificationFeed(channel: string, accountId: string, deliver: (n: Notification) => void): Promise<() => void> {
    return openNotificationFeed(this.#ctx, channel, accountId, deliver);
  }

  /** See {@link ackNotification}. */
  ackNotification(id: string): Promise<void> {
    return ackNotification(this.#ctx, id);
  }

  /** See {@link sweepExpired}. */
  sweepExpired(limit?: number): Promise<number> {
    return sweepExpired(this.#ctx, limit);
  }
}
