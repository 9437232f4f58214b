import type { Command } from "commander";
import type { CliContext } from "../context";
import { CliFailure } from "../context";
import { enumName, type JsonValue, messageJson } from "../json";
import { loadClients } from "../lazy";
import { isoTime } from "../output";

/** "3d 4h", "5h 12m", "42s". */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Registers `pairgate status [--json]`: one GetDaemonStatus call. */
export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command("status")
    .description("is the daemon running? version, uptime, listeners, TLS pin, store state, counts per channel account, nodes")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const { DmPolicy, PairgateError } = loadClients();
        let s;
        try {
          s = await ctx.client().admin.getDaemonStatus();
        } catch (err) {
          if (!(err instanceof PairgateError) || (err as { code?: string }).code !== "daemon_not_running") throw err;
          if (opts.json) {
            ctx.out.json({ running: false, socket: ctx.socketPath(), problem: err.message });
            process.exitCode = 1;
            return;
          }
          throw new CliFailure(err.message);
        }
        const pin = Buffer.from(s.nodeTlsSpkiSha256).toString("base64");
        if (opts.json) {
          const body = messageJson(s, {}) as { [k: string]: JsonValue };
          body.channels = s.channels.map((c) => messageJson(c, { policy: [DmPolicy, "DM_POLICY_"] }));
          ctx.out.json({ running: true, ...body });
          return;
        }
        const store = s.store;
        ctx.out.line(`pairgate ${s.version}: running (pid ${s.pid}, up ${formatDuration(s.uptimeMs)}, since ${isoTime(s.startedAtMs)})`);
        ctx.out.line(`  home:            ${s.home}`);
        ctx.out.line(`  config:          ${s.configPath === "" ? "(embedded defaults)" : s.configPath}`);
        ctx.out.line(`  operator socket: ${s.socketPath}`);
        ctx.out.line(
          `  node listener:   ${s.nodeListenAddress} ${s.nodeTls ? `TLS on, SPKI pin sha256/${pin}, certificate valid until ${isoTime(s.nodeTlsNotAfterMs)}` : "TLS off"}` +
            (s.nodeInsecure ? " (nodes.insecure)" : "") +
            (s.nodeAutoApproveLoopback ? " (auto-approves loopback)" : ""),
        );
        ctx.out.line(
          `  store:           ${store?.writable === false ? `FENCED since ${isoTime(store.fencedAtMs)}: ${store.fenceCause} (restart pairgate once the disk is healthy)` : "ok (writable)"}` +
            `, gateway ${store?.gatewayId.slice(0, 12) ?? ""}`,
        );
        ctx.out.line(`  nodes:           ${s.pairedNodes} paired, ${s.pendingNodes} pending`);
        ctx.out.line(`  audit:           ${s.auditRecords} records (pairgate audit)`);
        if (s.instances.length > 0) {
          // Several daemons over one PostgreSQL store: each as it last recorded itself there.
          const differing = s.instances.filter((i) => i.configFingerprint !== s.configFingerprint).length;
          ctx.out.line(`  daemons:         ${s.instances.length} share this store${differing === 0 ? "" : `, ${differing} with a different config (pairgate doctor)`}`);
          for (const i of s.instances) {
            const adapters = i.adapterAccounts.length === 0 ? "no adapters" : `adapters for ${i.adapterAccounts.join(", ")}`;
            ctx.out.line(`                   ${i.thisDaemon ? "* " : "  "}${i.host} pid ${i.pid}, nodes on ${i.nodeListenAddress}, ${i.version}, up since ${isoTime(i.startedAtMs)}, ${adapters}`);
          }
        }
        ctx.out.line("");

        ctx.out.table(
          ["Channel", "Account", "Policy", "Pending", "Allowed", "Adapters"],
          s.channels.map((c) => [
            c.channel,
            c.accountId,
            enumName([DmPolicy, "DM_POLICY_"], c.policy),
            `${c.pendingCount}/${c.pendingLimit}`,
            String(c.allowedCount),
            String(c.adaptersConnected),
          ]),
        );
      }),
    );
}
