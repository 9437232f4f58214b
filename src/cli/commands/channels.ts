import type { Command } from "commander";
import { ChannelStatus, DmPolicy } from "../../../clients/ts";
import type { CliContext } from "../context";

/** Registers `pairgate channels status`. */
export function registerChannelsCommands(program: Command, ctx: CliContext): void {
  const channels = program.command("channels").description("channel accounts: policies, counts and connected adapters");
  channels
    .command("status")
    .description("show each channel account's policy, pending and allowed counts, and connected adapters")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const res = await ctx.client().dmPairing.listChannels();
        if (opts.json) {
          ctx.out.json({ channels: res.channels.map((c) => ChannelStatus.toJSON(c)) });
          return;
        }
        ctx.out.table(
          ["Channel", "Account", "Policy", "Pending", "Allowed", "Adapters", "Turned away (queue full)", "Undelivered"],
          res.channels.map((c) => [
            c.channel,
            c.accountId,
            DmPolicy[c.policy].replace("DM_POLICY_", "").toLowerCase(),
            `${c.pendingCount}/${c.pendingLimit}`,
            String(c.allowedCount),
            String(c.adaptersConnected),
            String(c.queueFullDrops),
            String(c.undeliveredNotifications),
          ]),
        );
      }),
    );
}
