import type { AdminServiceServer } from "../../gen/pairgate/v1/admin_service";
import type { StoreAdmin } from "../../domain/store-admin";
import { type HandlerEnv, serverStream, unary } from "./handler";

/** Handlers of pairgate.v1.AdminService (operator socket only). */
export function adminHandlers(admin: StoreAdmin, env: HandlerEnv): AdminServiceServer {
  return {
    getStoreStatus: unary("GetStoreStatus", env, async () => {
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
    }),
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
  };
}
