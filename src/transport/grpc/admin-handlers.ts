import { z } from "zod";
import type { AuditEntry, AuditLog } from "../../domain/audit-log";
import type { DmPairing } from "../../domain/dm-pairing";
import type { StoreAdmin } from "../../domain/store-admin";
import type { AdminServiceServer, AuditRecord, DaemonInstance } from "../../gen/pairgate/v1/admin_service";
import { channelStatus } from "./dm-handlers";
import { type HandlerEnv, serverStream, unary } from "./handler";
import { shortText, validate } from "./validate";

/** What GetDaemonStatus reports besides the store and the channel accounts (the daemon builds it). */
export interface DaemonStatusView {
  version: string;
  startedAtMs: number;
  uptimeMs: number;
  pid: number;
  home: string;
  configPath: string;
  socketPath: string;
  nodeListenAddress: string;
  nodeTls: boolean;
  nodeTlsSpkiSha256: Buffer;
  nodeTlsNotAfterMs: number;
  nodeInsecure: boolean;
  nodeAutoApproveLoopback: boolean;
  pendingNodes: number;
  pairedNodes: number;
  auditRecords: number;
  configFingerprint: string;
  instances: DaemonInstance[];
}

/** What AdminService needs besides the store: the daemon's own view, the audit trail, the DM engine (imports). */
export interface AdminDeps {
  /** The daemon's status. Throws UnavailableError when the store cannot be read. */
  status(): Promise<DaemonStatusView>;
  audit: AuditLog;
  dm: DmPairing;
}

const auditSchema = z.object({
  sinceMs: z.number().int().min(0, "must not be negative"),
  actions: z.array(shortText(64)).max(32),
  pageSize: z.number().int().min(0).max(1000, "must be at most 1000"),
  pageToken: shortText(64),
});
const scopeEntry = { channel: shortText(64), accountId: shortText(64), senderId: shortText(1024) };
const importSchema = z.object({
  source: z.enum(["clawdbot", "openclaw", "file"]),
  senders: z.array(z.object(scopeEntry)),
  requests: z.array(
    z.object({
      ...scopeEntry,
      code: shortText(64),
      createdAtMs: z.number().int(),
      senderMeta: z.record(shortText(64), shortText(256)),
    }),
  ),
  dryRun: z.boolean(),
});

function auditRecord(r: AuditEntry): AuditRecord {
  return {
    id: r.id,
    atMs: r.atMs,
    action: r.action,
    role: r.role,
    channel: r.channel,
    accountId: r.accountId,
    subjectId: r.subjectId,
    requestId: r.requestId,
    via: r.via,
    detail: r.detail,
  };
}

/** Handlers of pairgate.v1.AdminService (operator socket only). */
export function adminHandlers(admin: StoreAdmin, env: HandlerEnv, deps: AdminDeps): AdminServiceServer {
  const storeStatus = () => {
    const s = admin.state();
    return {
      writable: s.writable,
      fencedAtMs: s.fencedAtMs ?? 0,
      fenceCause: s.cause ?? "",
      storeId: s.storeId,
      generation: s.generation,
      createdAtMs: s.createdAtMs,
      gatewayId: s.gatewayId,
      home: s.home,
    };
  };
  return {
    getStoreStatus: unary("GetStoreStatus", env, async () => storeStatus()),
    backup: serverStream("Backup", env, async (_req, sink, ctx) => {
      for await (const chunk of admin.backup()) {
        if (!sink.send({ chunk })) return;
        await sink.drained();
        if (ctx.signal.aborted) return;
      }
    }),
    verifyStore: unary("VerifyStore", env, async () => {
      const r = await admin.verify();
      return {
        ok: r.problemCount === 0,
        counts: Object.entries(r.counts).map(([collection, count]) => ({ collection, count })),
        problems: r.problems,
        problemCount: r.problemCount,
      };
    }),
    getDaemonStatus: unary("GetDaemonStatus", env, async () => {
      const [view, channels] = await Promise.all([deps.status(), deps.dm.listChannels()]);
      return { ...view, store: storeStatus(), channels: channels.map(channelStatus) };
    }),
    listAuditRecords: unary("ListAuditRecords", env, async (req) => {
      const r = validate(auditSchema, req);
      const page = await deps.audit.list({
        sinceMs: r.sinceMs,
        actions: r.actions,
        afterId: r.pageToken,
        limit: r.pageSize === 0 ? 100 : r.pageSize,
      });
      const last = page.records[page.records.length - 1];
      return { records: page.records.map(auditRecord), nextPageToken: page.more && last !== undefined ? last.id : "" };
    }),
    importState: unary("ImportState", env, async (req) => {
      const r = validate(importSchema, req);
      const summary = await deps.dm.importState(
        {
          source: r.source,
          senders: r.senders,
          requests: r.requests.map((q) => ({ ...q, meta: q.senderMeta })),
          dryRun: r.dryRun,
        },
        env.role ?? "owner",
      );
      return summary;
    }),
  };
}
