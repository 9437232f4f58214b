import type { Command } from "commander";
import { type CliContext, UsageError } from "../context";
import { enumName, messageJson } from "../json";
import { loadClients } from "../lazy";
import { foldName, safeText } from "../output";

/** Registers `pairgate channels status [channel] [--account <id>]`. */
export function registerChannelsCommands(program: Command, ctx: CliContext): void {
  const channels = program.command("channels").description("channel accounts: policies, counts and connected adapters");
  channels
    .command("status")
    .description("show each channel account's policy, pending and allowed counts, and connected adapters")
    .argument("[channel]", "only this channel")
    .option("--account <id>", "only this channel account (bot)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (channel: string | undefined, opts: { account?: string; json?: boolean }) => {
        const { DmPolicy } = loadClients();
        const name = channel === undefined ? undefined : foldName(channel);
        const account = opts.account === undefined ? undefined : foldName(opts.account);
        const all = (await ctx.client().dmPairing.listChannels()).channels;
        if (name !== undefined && !all.some((c) => c.channel === name)) {
          throw new UsageError(`unknown channel "${safeText(channel ?? "")}" (expected one of: ${[...new Set(all.map((c) => c.channel))].join(", ")})`);
        }
        const rows = all.filter((c) => (name === undefined || c.channel === name) && (account === undefined || c.accountId === account));
        if (opts.json) {
          ctx.out.json({ channels: rows.map((c) => messageJson(c, { policy: [DmPolicy, "DM_POLICY_"] })) });
          return;
        }
        if (rows.length === 0) {
          ctx.out.line(`No channel account matches${name === undefined ? "" : ` channel ${name}`}${account === undefined ? "" : ` account ${account}`}.`);
          return;
        }
        ctx.out.table(
          ["Channel", "Account", "Policy", "Pending", "Allowed", "Adapters", "Turned away (queue full)", "Undelivered", "Code misses (15 min)"],
          rows.map((c) => [
            c.channel,
            c.accountId,
            enumName([DmPolicy, "DM_POLICY_"], c.policy),
            `${c.pendingCount}/${c.pendingLimit}`,
            String(c.allowedCount),
            String(c.adaptersConnected),
            String(c.queueFullDrops),
            String(c.undeliveredNotifications),
            String(c.approveMissesRecent),
          ]),
        );
      }),
    );
}
