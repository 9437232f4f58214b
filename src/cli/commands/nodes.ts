import type { Command } from "commander";
import type { PairedNode, PendingNode } from "../../../clients/ts";
import { CliFailure, type CliContext, UsageError } from "../context";
import { type JsonValue, messageJson } from "../json";
import { loadClients } from "../lazy";
import { age, isoTime, safeText } from "../output";
import { checkLimit, fetchPages, followStream } from "../paging";
import { registerNodeInviteCommands } from "./node-invites";

/** How many characters of an id the tables show; any unique prefix is accepted back. */
const SHORT_REQUEST = 8;
const SHORT_NODE = 12;
/** Most candidates listed for an ambiguous prefix. */
const MAX_CANDIDATES = 10;

/** Normalizes a typed id prefix (lowercase hex). Throws UsageError (exit 2) for anything else. */
function hexPrefix(raw: string, what: string, max: number): string {
  const p = raw.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(p) || p.length > max) throw new UsageError(`${what} must be a hex id or a prefix of one (got "${safeText(raw)}")`);
  return p;
}

/**
 * Resolves a request id prefix to the one pending request it names. Throws CliFailure (exit 1) when
 * none matches, UsageError (exit 2) listing the candidates when several do.
 */
async function resolveRequest(ctx: CliContext, raw: string): Promise<string> {
  const prefix = hexPrefix(raw, "request id", 32);
  if (prefix.length === 32) return prefix;
  const page = await ctx.client().nodeAdmin.listPendingNodes({ requestIdPrefix: prefix, pageSize: MAX_CANDIDATES });
  const [first, ...rest] = page.requests;
  if (first === undefined) throw new CliFailure(`No pending node pairing request matches "${prefix}". List them with: pairgate nodes pending`);
  if (rest.length > 0) {
    const lines = page.requests.map((r) => `  ${r.requestId}  ${safeText(r.displayName)}`);
    throw new UsageError(`request id prefix "${prefix}" is ambiguous; it matches:\n${lines.join("\n")}`);
  }
  return first.requestId;
}

/** Resolves a node id prefix to the one paired node it names (server-side prefix search). Same errors. */
async function resolveNode(ctx: CliContext, raw: string): Promise<string> {
  const prefix = hexPrefix(raw, "node id", 64);
  if (prefix.length === 64) return prefix;
  const page = await ctx.client().nodeAdmin.listNodes({ nodeIdPrefix: prefix, pageSize: MAX_CANDIDATES });
  const [first, ...rest] = page.nodes;
  if (first === undefined) throw new CliFailure(`No paired node matches "${prefix}". List them with: pairgate nodes list`);
  if (rest.length > 0) {
    const lines = page.nodes.map((n) => `  ${n.nodeId}  ${safeText(n.displayName)}`);
    throw new UsageError(`node id prefix "${prefix}" is ambiguous; it matches:\n${lines.join("\n")}`);
  }
  return first.nodeId;
}

function short(id: string, n: number): string {
  return id.slice(0, n);
}

/** A pending node request in the `--json` convention. */
function pendingJson(r: PendingNode): JsonValue {
  return messageJson(r);
}

/** A paired node in the `--json` convention (tokenState: "active" | "awaiting_claim" | "issued"). Never a token. */
function nodeJson(n: PairedNode): JsonValue {
  return messageJson(n, { tokenState: [loadClients().NodeTokenState, "NODE_TOKEN_STATE_"] });
}

/** The Token column: awaiting claim, issued (not yet used; with the previous token's deadline), active. */
function tokenStateText(n: PairedNode): string {
  const { NodeTokenState } = loadClients();
  if (n.tokenState === NodeTokenState.NODE_TOKEN_STATE_ACTIVE) return "active";
  if (n.tokenState !== NodeTokenState.NODE_TOKEN_STATE_ISSUED) return "awaiting claim";
  return n.previousTokenExpiresAtMs > 0 ? `rotated, old valid until ${isoTime(n.previousTokenExpiresAtMs)}` : "issued, not yet used";
}

/** Registers `pairgate nodes ...`: pending, approve, reject, list, rename, revoke, watch, tls, invite, invites. */
export function registerNodesCommands(program: Command, ctx: CliContext): void {
  const nodes = program.command("nodes").description("node pairing: mobile nodes asking to join, and paired nodes");

  nodes
    .command("pending")
    .description("list pending node pairing requests")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const { items: requests } = await fetchPages(
          async (pageToken) => {
            const page = await ctx.client().nodeAdmin.listPendingNodes({ pageToken });
            return { items: page.requests, nextPageToken: page.nextPageToken };
          },
          { all: true },
        );
        if (opts.json) {
          ctx.out.json({ requests: requests.map(pendingJson) });
          return;
        }
        if (requests.length === 0) {
          ctx.out.line("No pending node pairing requests.");
          return;
        }
        ctx.out.table(
          ["Request", "Node", "Name", "Platform", "IP", "Requested", "Repair"],
          requests.map((r) => [
            short(r.requestId, SHORT_REQUEST),
            short(r.nodeId, SHORT_NODE),
            safeText(r.displayName),
            safeText(r.platform),
            r.remoteIp,
            `${age(r.createdAtMs)} ago`,
            r.isRepair ? "yes" : "",
          ]),
        );
        if (ctx.out.interactive) ctx.out.line(`Approve with: pairgate nodes approve <request>  (a unique prefix is enough)`);
      }),
    );

  nodes
    .command("approve")
    .description("approve a pending node pairing request (the node then claims its token)")
    .argument("<requestId>", "request id or a unique prefix of it")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (raw: string, opts: { json?: boolean }) => {
        const requestId = await resolveRequest(ctx, raw);
        const res = await ctx.client().nodeAdmin.approveNode(requestId);
        if (opts.json) {
          ctx.out.json({ node: res.node === undefined ? null : nodeJson(res.node) });
          return;
        }
        const n = res.node;
        ctx.out.line(`Approved node ${safeText(n?.displayName ?? "")} (${short(n?.nodeId ?? "", SHORT_NODE)}). It can now claim its token.`);
      }),
    );

  nodes
    .command("reject")
    .description("reject a pending node pairing request (asks first on a terminal)")
    .argument("<requestId>", "request id or a unique prefix of it")
    .option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)")
    .action(
      ctx.action(async (raw: string, opts: { yes?: boolean }) => {
        const requestId = await resolveRequest(ctx, raw);
        await ctx.confirm(`Reject node pairing request ${short(requestId, SHORT_REQUEST)}?`, opts.yes);
        const res = await ctx.client().nodeAdmin.rejectNode(requestId);
        ctx.out.line(`Rejected node pairing request ${short(requestId, SHORT_REQUEST)} (${safeText(res.request?.displayName ?? "")}).`);
      }),
    );

  nodes
    .command("list")
    .description("list paired nodes (one page; --all for every page)")
    .option("--json", "machine-readable output")
    .option("--limit <n>", "entries per page (max 500)", (v) => Number.parseInt(v, 10), 50)
    .option("--page-token <token>", "continue from a previous page")
    .option("--all", "fetch every page")
    .action(
      ctx.action(async (opts: { json?: boolean; limit: number; pageToken?: string; all?: boolean }) => {
        const pageSize = checkLimit(opts.limit);
        const { items: all, nextPageToken: pageToken } = await fetchPages(
          async (pageToken) => {
            const page = await ctx.client().nodeAdmin.listNodes({ pageToken, pageSize });
            return { items: page.nodes, nextPageToken: page.nextPageToken };
          },
          { all: opts.all === true, ...(opts.pageToken === undefined ? {} : { pageToken: opts.pageToken }) },
        );
        if (opts.json) {
          ctx.out.json({ nodes: all.map(nodeJson), nextPageToken: pageToken });
          return;
        }
        if (all.length === 0) {
          ctx.out.line("No paired nodes.");
          return;
        }
        ctx.out.table(
          ["Node", "Name", "Platform", "Token", "Sessions", "Last seen", "Approved"],
          all.map((n) => [
            short(n.nodeId, SHORT_NODE),
            safeText(n.displayName),
            safeText(n.platform),
            tokenStateText(n),
            String(n.activeSessions),
            n.lastSeenAtMs > 0 ? `${age(n.lastSeenAtMs)} ago` : "",
            `${isoTime(n.approvedAtMs)}${n.approvedVia === "owner" ? "" : n.approvedVia === "invite" ? ` (invite ${n.inviteId})` : ` (${n.approvedVia})`}`,
          ]),
        );
        if (pageToken !== "") ctx.out.error(`More nodes: pairgate nodes list --page-token ${pageToken} (or --all)`);
      }),
    );

  nodes
    .command("rename")
    .description("change the name shown for a paired node")
    .argument("<nodeId>", "node id or a unique prefix of it")
    .argument("<name>", "the new name (1-64 characters)")
    .action(
      ctx.action(async (raw: string, name: string) => {
        const nodeId = await resolveNode(ctx, raw);
        const res = await ctx.client().nodeAdmin.renameNode(nodeId, name);
        ctx.out.line(`Renamed node ${short(nodeId, SHORT_NODE)} to ${safeText(res.node?.displayName ?? name)}.`);
      }),
    );

  nodes
    .command("revoke")
    .description("unpair a node: its token stops working and its connections end (asks first on a terminal)")
    .argument("<nodeId>", "node id or a unique prefix of it")
    .option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)")
    .action(
      ctx.action(async (raw: string, opts: { yes?: boolean }) => {
        const nodeId = await resolveNode(ctx, raw);
        await ctx.confirm(`Revoke node ${short(nodeId, SHORT_NODE)}? Its token stops working and its connections end`, opts.yes);
        const res = await ctx.client().nodeAdmin.revokeNode(nodeId);
        ctx.out.line(`Revoked node ${short(nodeId, SHORT_NODE)} (${safeText(res.node?.displayName ?? "")}). Its token no longer works.`);
      }),
    );

  nodes
    .command("watch")
    .description("stream node pairing events (requested, approved, rejected, expired, revoked, renamed) until Ctrl-C")
    .option("--json", "one JSON object per line")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const { NodeEventType } = loadClients();
        await followStream(ctx.client().nodeAdmin.watchNodeEvents(), (e) => {
          if (opts.json) {
            ctx.out.line(JSON.stringify(messageJson(e, { type: [NodeEventType, "NODE_EVENT_TYPE_"] })));
            return;
          }
          const type = NodeEventType[e.type].replace("NODE_EVENT_TYPE_", "").toLowerCase();
          const request = e.requestId === "" ? "" : `  request ${short(e.requestId, SHORT_REQUEST)}`;
          const repair = (e.isRepair ? "  (repair)" : "") + (e.approvedVia === "invite" ? `  (by invite ${e.inviteId})` : e.approvedVia === "auto-loopback" ? "  (auto-loopback)" : "");
          ctx.out.line(
            `${isoTime(e.atMs)}  ${type.padEnd(9)}  node ${short(e.nodeId, SHORT_NODE)}  ${safeText(e.displayName)}${request}${repair}`,
          );
        });
      }),
    );

  nodes
    .command("tls")
    .description("show the node listener's TLS certificate: the SPKI pin nodes pin, its names and expiry")
    .option("--json", "machine-readable output")
    .option("--pem", "print the certificate (PEM) only")
    .action(
      ctx.action(async (opts: { json?: boolean; pem?: boolean }) => {
        const t = await ctx.client().nodeAdmin.getNodeTls();
        const pin = `sha256/${Buffer.from(t.spkiSha256).toString("base64")}`;
        const pinHex = Buffer.from(t.spkiSha256).toString("hex");
        if (opts.pem) {
          ctx.out.line(t.certificatePem.trimEnd());
          return;
        }
        if (opts.json) {
          ctx.out.line(JSON.stringify({ ...messageJson(t), spkiPin: pin, spkiSha256Hex: pinHex }, null, 2));
          return;
        }
        const days = Math.floor((t.notAfterMs - Date.now()) / 86_400_000);
        ctx.out.line(`Node listener ${t.listenAddress} (${t.auto ? "auto certificate, renewed 30 days before expiry with the same key" : "certificate from nodes.tls files"})`);
        ctx.out.line(`SPKI pin (base64): ${pin}`);
        ctx.out.line(`SPKI pin (hex):    ${pinHex}`);
        ctx.out.line(`Names:             ${[...t.dnsNames, ...t.ipAddresses].join(", ")}`);
        ctx.out.line(`Valid:             ${isoTime(t.notBeforeMs)} to ${isoTime(t.notAfterMs)} (${days} days left)`);
        ctx.out.line("");
        ctx.out.line(`Pair a node with: pairgate-node pair --gateway <host:port> --tls-pin ${pin} --name <name>`);
        ctx.out.line("(pin the key, not the certificate: the pin survives renewals; never install this certificate as a trusted root)");
      }),
    );
  registerNodeInviteCommands(nodes, ctx);
}
