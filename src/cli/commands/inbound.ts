import { type Command, InvalidArgumentError as CommanderArgError } from "commander";
import type { CliContext } from "../context";
import { messageJson } from "../json";
import { loadClients } from "../lazy";
import { safeText } from "../output";

function collectMeta(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new CommanderArgError(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function parseMs(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgError("expected Unix milliseconds");
  return Number(value);
}

/**
 * Registers `pairgate inbound <channel> <senderId>`: asks the daemon about one inbound DM exactly as
 * a channel adapter would, and prints what the sender would be sent.
 */
export function registerInboundCommand(program: Command, ctx: CliContext): void {
  program
    .command("inbound")
    .description("play a channel adapter: check one inbound direct message and print what the sender would get")
    .argument("<channel>", "channel name, e.g. telegram")
    .argument("<senderId>", "the sender's id on that channel")
    .option("--account <id>", "channel account (bot); default \"default\"")
    .option("--meta <key=value>", "sender display data (repeatable)", collectMeta, {})
    .option("--sent-at <ms>", "when the message was sent, Unix ms (default: now)", parseMs)
    .option("--json", "print the daemon's verdict as JSON")
    .action(
      ctx.action(
        async (
          channel: string,
          senderId: string,
          opts: { account?: string; meta: Record<string, string>; sentAt?: number; json?: boolean },
        ) => {
          const res = await ctx.client().dmAccess.checkInbound({
            channel,
            senderId,
            accountId: opts.account ?? "",
            senderMeta: opts.meta,
            sentAtMs: opts.sentAt ?? Date.now(),
          });
          const { Decision } = loadClients();
          if (opts.json) {
            ctx.out.json(messageJson(res, { decision: [Decision, "DECISION_"] }));
            return;
          }
          const who = `${channel.toLowerCase()} sender ${safeText(res.senderId)}`;
          switch (res.decision) {
            case Decision.DECISION_ALLOW:
              ctx.out.line(`✅ Allowed: ${who} (${res.reason}). The message would be processed.`);
              return;
            case Decision.DECISION_DENY:
              ctx.out.line(`⛔ Denied: ${who} (${res.reason}). The message would be dropped.`);
              return;
            default:
              if (res.replyText !== "") {
                ctx.out.line(res.replyText);
              } else {
                ctx.out.line(`No reply sent to ${who}: ${res.reason}.`);
                if (res.pairingCode !== "") ctx.out.line(`Pending pairing code: ${res.pairingCode}`);
              }
          }
        },
      ),
    );
}
