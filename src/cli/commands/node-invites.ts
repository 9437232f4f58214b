/* eslint-disable @typescript-eslint/no-require-imports */
import { closeSync, fchmodSync, openSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import type * as QRCodeType from "qrcode";
import { type CliContext, UsageError } from "../context";
import { messageJson } from "../json";
import { age, isoTime, safeText } from "../output";

/** Parses a duration like "10m", "90s", "1h30m", "2h" into ms. Throws UsageError (exit 2). */
export function parseDuration(raw: string, what = "--ttl"): number {
  const text = raw.trim().toLowerCase();
  const unit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (!/^(\d+[smhd])+$/.test(text)) throw new UsageError(`${what} must be a duration like 10m, 90s, 1h or 1h30m (got "${safeText(raw)}")`);
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * unit[u!]!;
  if (ms === 0) throw new UsageError(`${what} must be longer than 0 (got "${safeText(raw)}")`);
  return ms;
}

/** A whole-minute duration as "10 min", else seconds. */
function durationText(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * The QR code of `text` for a terminal: Unicode half blocks, two modules per character, no ANSI
 * codes (so NO_COLOR and pipes get the same). Drawn for light text on a dark background (the light
 * modules are the filled ones); with a light background use --png.
 */
export async function terminalQr(text: string): Promise<string> {
  // qrcode (and its PNG encoder) is loaded only by this command (the CLI start-up test guards it).
  const QRCode = require("qrcode") as typeof QRCodeType;
  return QRCode.toString(text, { type: "utf8", errorCorrectionLevel: "M", margin: 2, color: { dark: "#ffffff", light: "#000000" } });
}

/** Writes the QR code of `text` as a PNG file (mode 0600: it holds the setup secret). */
async function pngQr(text: string, file: string): Promise<void> {
  const QRCode = require("qrcode") as typeof QRCodeType;
  const png = await QRCode.toBuffer(text, { type: "png", errorCorrectionLevel: "M", margin: 4, scale: 8 });
  const fd = openSync(file, "w", 0o600);
  try {
    fchmodSync(fd, 0o600); // also when the file existed with a wider mode, before the secret is written
    writeFileSync(fd, png);
  } finally {
    closeSync(fd);
  }
}

/** Registers `pairgate nodes invite`, `pairgate nodes invites [list]` and `pairgate nodes invites revoke`. */
export function registerNodeInviteCommands(nodes: Command, ctx: CliContext): void {
  nodes
    .command("invite")
    .description("create a single-use invite: a pairgate:// URI and QR code with which one phone pairs without a separate approval")
    .option("--name <name>", "label for the invite, also the phone's suggested name", "")
    .option("--ttl <duration>", "how long the invite is valid (1m to 24h)", "10m")
    .option("--uses <n>", "how many nodes may pair with it (1-100)", "1")
    .option("--address <host:port...>", "node listener address(es) to put in the URI (default: the listener's own)")
    .option("--png <file>", "also write the QR code as a PNG file (mode 0600)")
    .option("--qr", "print the QR code even when stdout is not a terminal")
    .option("--no-qr", "do not print the QR code")
    .option("--json", "machine-readable output (includes the URI, which holds the secret)")
    .action(
      ctx.action(async (opts: { name: string; ttl: string; uses: string; address?: string[]; png?: string; qr?: boolean; json?: boolean }) => {
        const ttlMs = parseDuration(opts.ttl);
        if (!/^\d+$/.test(opts.uses)) throw new UsageError(`--uses must be a whole number from 1 to 100 (got "${safeText(opts.uses)}")`);
        const res = await ctx.client().nodeAdmin.createNodeInvite({
          name: opts.name,
          ttlMs,
          maxUses: Number(opts.uses),
          addresses: opts.address ?? [],
        });
        const invite = res.invite!;
        if (opts.png !== undefined) await pngQr(res.uri, opts.png);
        if (opts.json) {
          ctx.out.json({
            invite: messageJson(invite),
            uri: res.uri,
            addresses: res.addresses,
            gatewayId: res.gatewayId,
            tlsSpkiSha256: Buffer.from(res.tlsSpkiSha256).toString("hex"),
            png: opts.png ?? "",
          });
          return;
        }
        const label = invite.name === "" ? "" : ` "${safeText(invite.name)}"`;
        const uses = invite.maxUses === 1 ? "single use" : `${invite.maxUses} uses`;
        ctx.out.line(`Invite ${invite.inviteId}${label}: ${uses}, valid ${durationText(ttlMs)} (until ${isoTime(invite.expiresAtMs)}).`);
        ctx.out.line(`Gateway ${res.gatewayId.slice(0, 12)} at ${res.addresses.join(", ")}${res.tlsSpkiSha256.length > 0 ? " (TLS, key pinned by the URI)" : " (no TLS)"}.`);
        if (res.addresses.every((a) => /^(127\.|\[::1\]|localhost:)/.test(a))) {
          ctx.out.error(
            'Note: the node listener is on a loopback address, which a phone cannot reach. Listen on the network (nodes.listen, with nodes.tls "auto") or pass --address host:port.',
          );
        }
        if (opts.qr ?? ctx.out.interactive) {
          ctx.out.line("");
          ctx.out.line(await terminalQr(res.uri));
        }
        ctx.out.line("");
        ctx.out.line(res.uri);
        ctx.out.line("");
        if (opts.png !== undefined) ctx.out.line(`QR code written to ${opts.png}.`);
        ctx.out.line("Scan it with the node app, or run: pairgate-node pair --invite '<the URI above>'");
        ctx.out.line("Anyone holding this URI can pair a node until it is used or expires: show it only to the phone.");
        ctx.out.line(`Revoke it with: pairgate nodes invites revoke ${invite.inviteId}`);
      }),
    );

  const invites = nodes.command("invites").description("list or revoke node invites (never shows a secret)");
  invites
    .command("list", { isDefault: true })
    .description("list live invites (unexpired; used-up ones included)")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const { invites: all } = await ctx.client().nodeAdmin.listNodeInvites();
        if (opts.json) {
          ctx.out.json({ invites: all.map((i) => messageJson(i)) });
          return;
        }
        if (all.length === 0) {
          ctx.out.line("No live node invites. Create one with: pairgate nodes invite");
          return;
        }
        ctx.out.table(
          ["Invite", "Name", "Uses", "Expires", "Created", "Last node"],
          all.map((i) => [
            i.inviteId,
            safeText(i.name),
            `${i.uses}/${i.maxUses}`,
            isoTime(i.expiresAtMs),
            `${age(i.createdAtMs)} ago`,
            i.lastNodeId.slice(0, 12),
          ]),
        );
      }),
    );
  invites
    .command("revoke")
    .description("revoke an invite: its secret stops working (nodes already paired with it stay paired)")
    .argument("<inviteId>", "the invite id (16 hex characters)")
    .action(
      ctx.action(async (raw: string) => {
        const inviteId = raw.trim().toLowerCase();
        if (!/^[0-9a-f]{16}$/.test(inviteId)) throw new UsageError(`invite id must be 16 hex characters (got "${safeText(raw)}"); list them with: pairgate nodes invites`);
        const res = await ctx.client().nodeAdmin.revokeNodeInvite(inviteId);
        ctx.out.line(`Revoked invite ${inviteId}${res.invite?.name ? ` "${safeText(res.invite.name)}"` : ""}; its secret no longer works.`);
      }),
    );
}
