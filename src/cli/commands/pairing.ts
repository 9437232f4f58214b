import type { Command } from "commander";
import type { AllowedSender, PairgateClient, PairingRequest } from "../../../clients/ts";
import { type CliContext, UsageError } from "../context";
import { addFromFile } from "./import";
import { enumName, type JsonValue, messageJson } from "../json";
import { loadClients } from "../lazy";
import { foldName, isoTime, safeText } from "../output";
import { checkLimit, fetchPages, followStream } from "../paging";

interface ScopeOpts {
  channel?: string;
  provider?: string;
  account?: string;
  json?: boolean;
  yes?: boolean;
}

/** A pairing request in the `--json` convention. */
function requestJson(r: PairingRequest): JsonValue {
  return messageJson(r);
}

/** An allowed sender in the `--json` convention (source: "config" | "approved"). */
function senderJson(s: AllowedSender): JsonValue {
  return messageJson(s, { source: [loadClients().SenderSource, "SENDER_SOURCE_"] });
}

/** Reference-compatible channel option: --channel or its alias --provider. */
function withScope(cmd: Command): Command {
  return cmd
    .option("--channel <channel>", "channel name (instead of the first argument)")
    .option("--provider <channel>", "alias of --channel")
    .option("--account <id>", "channel account (bot); default \"default\"");
}

async function channelRequired(client: PairgateClient): Promise<never> {
  let expected = "";
  try {
    const names = [...new Set((await client.dmPairing.listChannels()).channels.map((c) => c.channel))];
    expected = ` (expected one of: ${names.join(", ")})`;
  } catch {
    // The daemon may be down; the usage message is still useful without the list.
  }
  throw new UsageError(`Channel required. Use --channel <channel> or pass it as the first argument${expected}`);
}

/**
 * Splits `[channel] <value>` positionals against --channel/--provider. Throws UsageError with the
 * reference's messages for missing or surplus arguments.
 */
async function channelAndValue(
  ctx: CliContext,
  verb: string,
  valueName: string,
  first: string | undefined,
  second: string | undefined,
  opts: ScopeOpts,
): Promise<{ channel: string; value: string }> {
  const flag = opts.channel ?? opts.provider;
  const usage =
    `Usage: pairgate pairing ${verb} <channel> <${valueName}> ` +
    `(or: pairgate pairing ${verb} --channel <channel> <${valueName}>)`;
  if (flag !== undefined) {
    if (second !== undefined) throw new UsageError(`Too many arguments. Use: pairgate pairing ${verb} --channel <channel> <${valueName}>`);
    if (first === undefined) throw new UsageError(usage);
    return { channel: flag, value: first };
  }
  if (first === undefined) return channelRequired(ctx.client());
  if (second === undefined) throw new UsageError(usage);
  return { channel: first, value: second };
}

/** Every pending request of one channel account (all pages). */
async function pendingOf(ctx: CliContext, channel: string, accountId: string): Promise<PairingRequest[]> {
  const { items } = await fetchPages(
    async (pageToken) => {
      const page = await ctx.client().dmPairing.listPairingRequests({ channel, accountId, pageToken });
      return { items: page.requests, nextPageToken: page.nextPageToken };
    },
    { all: true },
  );
  return items;
}

/** `pairing list` without a channel: the pending requests of every channel account (or of --account). */
async function listEveryChannel(ctx: CliContext, opts: ScopeOpts): Promise<void> {
  const account = opts.account === undefined ? undefined : foldName(opts.account);
  const scopes = (await ctx.client().dmPairing.listChannels()).channels.filter(
    (c) => c.pendingCount > 0 && (account === undefined || c.accountId === account),
  );
  const requests: PairingRequest[] = [];
  for (const s of scopes) requests.push(...(await pendingOf(ctx, s.channel, s.accountId)));
  if (opts.json) {
    ctx.out.json({ requests: requests.map(requestJson) });
    return;
  }
  if (requests.length === 0) {
    ctx.out.line("No pending pairing requests.");
    return;
  }
  requestsTable(ctx, requests, true);
}

/** The pending requests as a table (with Channel and Account columns when they span accounts). */
function requestsTable(ctx: CliContext, requests: PairingRequest[], withScope: boolean): void {
  if (ctx.out.interactive) {
    ctx.out.line(`Pairing requests (${requests.length})`);
    ctx.out.line();
  }
  const warn = requests.some((r) => r.lookalikeWarning !== "");
  ctx.out.table(
    [...(withScope ? ["Channel", "Account"] : []), "Code", "ID", "Meta", "Requested", ...(warn ? ["Lookalike"] : [])],
    requests.map((r) => [
      ...(withScope ? [r.channel, r.accountId] : []),
      r.code,
      safeText(r.senderId),
      metaText(r.senderMeta),
      isoTime(r.createdAtMs),
      ...(warn ? [lookalikeCell(r)] : []),
    ]),
  );
  lookalikeHint(ctx, requests);
}

/** The Lookalike column: the daemon's warning, or empty. */
function lookalikeCell(r: PairingRequest): string {
  return r.lookalikeWarning === "" ? "" : `⚠ ${safeText(r.lookalikeWarning)}`;
}

/** A stderr line when some pending request could pass for someone else (the column says which). */
function lookalikeHint(ctx: CliContext, requests: PairingRequest[]): void {
  const n = requests.filter((r) => r.lookalikeWarning !== "").length;
  if (n === 0) return;
  ctx.out.error(
    `⚠ ${n} pending request${n === 1 ? "" : "s"} ${n === 1 ? "mixes" : "mix"} scripts or use lookalike characters (see the Lookalike column): ` +
      "make sure the sender is who you think before approving.",
  );
}

async function channelOnly(ctx: CliContext, positional: string | undefined, opts: ScopeOpts): Promise<string> {
  const channel = positional ?? opts.channel ?? opts.provider;
  if (channel === undefined) return channelRequired(ctx.client());
  return channel;
}

function metaText(meta: Record<string, string>): string {
  return Object.keys(meta).length === 0 ? "" : safeText(JSON.stringify(meta));
}

/** Registers `pairgate pairing ...`: list, approve, reject, allowed, add, revoke, watch. */
export function registerPairingCommands(program: Command, ctx: CliContext): void {
  const pairing = program.command("pairing").description("DM pairing: pending codes and the per-channel allowlist");

  withScope(pairing.command("list").description("list pending pairing requests (of one channel, or of every channel)"))
    .argument("[channel]", "channel name, e.g. telegram (default: every channel)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (positional: string | undefined, opts: ScopeOpts) => {
        const channel = positional ?? opts.channel ?? opts.provider;
        if (channel === undefined) return listEveryChannel(ctx, opts);
        const requests = await pendingOf(ctx, channel, opts.account ?? "");
        const name = foldName(channel);
        if (opts.json) {
          ctx.out.json({ channel: name, accountId: opts.account ?? "default", requests: requests.map(requestJson) });
          return;
        }
        if (requests.length === 0) {
          ctx.out.line(`No pending ${name} pairing requests.`);
          return;
        }
        requestsTable(ctx, requests, false);
      }),
    );

  withScope(pairing.command("approve").description("approve a pairing code: the sender joins the channel's allowlist"))
    .argument("[channel]", "channel name (or use --channel)")
    .argument("[code]", "the 8-character pairing code (case, spaces and hyphens ignored)")
    .option("--notify", "also tell the sender, through the channel's adapter")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (first: string | undefined, second: string | undefined, opts: ScopeOpts & { notify?: boolean }) => {
        const { channel, value: code } = await channelAndValue(ctx, "approve", "code", first, second, opts);
        const { NotifyStatus } = loadClients();
        const res = await ctx.client().dmPairing.approvePairingCode({
          channel,
          code,
          accountId: opts.account ?? "",
          notify: opts.notify === true,
        });
        if (opts.json) {
          ctx.out.json({
            sender: res.sender === undefined ? null : senderJson(res.sender),
            notifyStatus: res.notifyStatus === NotifyStatus.NOTIFY_STATUS_UNSPECIFIED ? "not_requested" : enumName([NotifyStatus, "NOTIFY_STATUS_"], res.notifyStatus),
            notificationId: res.notificationId,
          });
          return;
        }
        const name = foldName(channel);
        ctx.out.line(`✅ Approved ${name} sender ${safeText(res.sender?.senderId ?? "")}`);
        if (res.notifyStatus === NotifyStatus.NOTIFY_STATUS_NO_ADAPTER) {
          ctx.out.error(
            `Failed to notify requester: no channel adapter connected for ${name} ` +
              "(the notice stays queued and is delivered when the adapter connects)",
          );
        } else if (res.notifyStatus === NotifyStatus.NOTIFY_STATUS_QUEUED) {
          ctx.out.line(`Approval notice handed to the ${name} adapter.`);
        }
      }),
    );

  withScope(pairing.command("reject").description("reject a pending pairing request without granting access (asks first on a terminal)"))
    .argument("[channel]", "channel name (or use --channel)")
    .argument("[code]", "the pairing code")
    .option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)")
    .action(
      ctx.action(async (first: string | undefined, second: string | undefined, opts: ScopeOpts) => {
        const { channel, value: code } = await channelAndValue(ctx, "reject", "code", first, second, opts);
        await ctx.confirm(`Reject the ${foldName(channel)} pairing request with code ${safeText(code)}?`, opts.yes);
        const res = await ctx.client().dmPairing.rejectPairingRequest({ channel, code, accountId: opts.account ?? "" });
        ctx.out.line(`Rejected ${foldName(channel)} pairing request from ${safeText(res.request?.senderId ?? "")}`);
      }),
    );

  withScope(pairing.command("allowed").description("list the senders allowed on a channel (config and approved)"))
    .argument("[channel]", "channel name")
    .option("--json", "machine-readable output")
    .option("--limit <n>", "entries per page (max 500)", (v) => Number.parseInt(v, 10), 50)
    .option("--page-token <token>", "continue from a previous page")
    .option("--all", "fetch every page")
    .action(
      ctx.action(async (positional: string | undefined, opts: ScopeOpts & { limit: number; pageToken?: string; all?: boolean }) => {
        const channel = await channelOnly(ctx, positional, opts);
        const pageSize = checkLimit(opts.limit);
        const { items: senders, nextPageToken: pageToken } = await fetchPages(
          async (pageToken) => {
            const page = await ctx.client().dmPairing.listAllowedSenders({ channel, accountId: opts.account ?? "", pageSize, pageToken });
            return { items: page.senders, nextPageToken: page.nextPageToken };
          },
          { all: opts.all === true, ...(opts.pageToken === undefined ? {} : { pageToken: opts.pageToken }) },
        );
        const name = foldName(channel);
        if (opts.json) {
          ctx.out.json({ channel: name, accountId: opts.account ?? "default", senders: senders.map(senderJson), nextPageToken: pageToken });
          return;
        }
        if (senders.length === 0) {
          ctx.out.line(`No allowed ${name} senders. Approve a pairing code with: pairgate pairing approve ${name} <code>`);
          return;
        }
        const { SenderSource } = loadClients();
        if (ctx.out.interactive) {
          ctx.out.line(`Allowed ${name} senders (${senders.length}${pageToken !== "" ? "+" : ""})`);
          ctx.out.line();
        }
        ctx.out.table(
          ["ID", "Source", "Approved", "Meta"],
          senders.map((s) => [
            safeText(s.senderId),
            s.source === SenderSource.SENDER_SOURCE_CONFIG ? "config" : `approved (${s.via})`,
            isoTime(s.approvedAtMs),
            metaText(s.senderMeta),
          ]),
        );
        if (pageToken !== "") ctx.out.error(`More senders: pairgate pairing allowed ${name} --page-token ${pageToken} (or --all)`);
      }),
    );

  withScope(pairing.command("add").description("allow a sender directly, without a pairing code (or many: --from-file)"))
    .argument("[channel]", "channel name (or use --channel)")
    .argument("[senderId]", "the sender's id on that channel")
    .option("--from-file <file>", "add every sender id in the file (one per line, or a JSON array) in one atomic write")
    .option("--json", "machine-readable output (with --from-file)")
    .action(
      ctx.action(async (first: string | undefined, second: string | undefined, opts: ScopeOpts & { fromFile?: string; json?: boolean }) => {
        if (opts.fromFile !== undefined) {
          const channel = opts.channel ?? opts.provider ?? first;
          if (channel === undefined || second !== undefined || (channel !== first && first !== undefined)) {
            throw new UsageError("Usage: pairgate pairing add <channel> --from-file <file>");
          }
          await addFromFile(ctx, channel, opts.account ?? "", opts.fromFile, opts.json === true);
          return;
        }
        const { channel, value } = await channelAndValue(ctx, "add", "senderId", first, second, opts);
        const res = await ctx.client().dmPairing.addAllowedSender({ channel, senderId: value, accountId: opts.account ?? "" });
        const name = foldName(channel);
        const id = safeText(res.sender?.senderId ?? "");
        ctx.out.line(res.created ? `✅ Allowed ${name} sender ${id}` : `${name} sender ${id} was already allowed`);
      }),
    );

  withScope(pairing.command("revoke").description("remove an approved sender from a channel's allowlist (asks first on a terminal)"))
    .argument("[channel]", "channel name (or use --channel)")
    .argument("[senderId]", "the sender's id")
    .option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)")
    .action(
      ctx.action(async (first: string | undefined, second: string | undefined, opts: ScopeOpts) => {
        const { channel, value } = await channelAndValue(ctx, "revoke", "senderId", first, second, opts);
        await ctx.confirm(`Revoke ${foldName(channel)} sender ${safeText(value)}${opts.account === undefined ? "" : ` on account ${safeText(opts.account)}`}?`, opts.yes);
        const res = await ctx.client().dmPairing.revokeAllowedSender({ channel, senderId: value, accountId: opts.account ?? "" });
        ctx.out.line(`Revoked ${foldName(channel)} sender ${safeText(res.sender?.senderId ?? "")}`);
      }),
    );

  pairing
    .command("watch")
    .description("stream pairing events (requested, approved, rejected, expired, revoked) until Ctrl-C")
    .argument("[channel]", "only this channel")
    .option("--account <id>", "only this account")
    .option("--json", "one JSON object per line")
    .action(
      ctx.action(async (channel: string | undefined, opts: { account?: string; json?: boolean }) => {
        const stream = ctx.client().dmPairing.watchPairingEvents({ channel: channel ?? "", accountId: opts.account ?? "" });
        const { PairingEventType, CallerRole } = loadClients();
        await followStream(stream, (e) => {
          if (opts.json) {
            ctx.out.line(
              JSON.stringify(messageJson(e, { type: [PairingEventType, "PAIRING_EVENT_TYPE_"], callerRole: [CallerRole, "CALLER_ROLE_"] })),
            );
            return;
          }
          const type = PairingEventType[e.type].replace("PAIRING_EVENT_TYPE_", "").toLowerCase();
          if (e.type === PairingEventType.PAIRING_EVENT_TYPE_APPROVE_FAILED) {
            const role = CallerRole[e.callerRole].replace("CALLER_ROLE_", "").toLowerCase();
            ctx.out.line(`${isoTime(e.atMs)}  ${type}  ${e.channel}/${e.accountId}  ${e.failedAttempts} wrong codes in 15 min (${role} socket)`);
            return;
          }
          const code = e.code === "" ? "" : `  code ${e.code}`;
          ctx.out.line(`${isoTime(e.atMs)}  ${type.padEnd(9)}  ${e.channel}/${e.accountId}  ${safeText(e.senderId)}${code}`);
        });
      }),
    );
}
