import { networkInterfaces } from "node:os";
import { z } from "zod";
import type { NodeInviteView, NodePairing } from "../../domain/node-pairing";
import { formatInviteUri } from "../../domain/node-invite-uri";
import { hasInvisibleCharacters } from "../../domain/node-input";
import type { NodeAdminServiceServer, NodeInvite } from "../../gen/pairgate/v1/node_admin_service";
import { type HandlerEnv, unary } from "./handler";
import { shortText, validate } from "./validate";

/** "host:port": a DNS name or IPv4 address, or "[IPv6]", and a port 1..65535. */
const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):([1-9][0-9]{0,4})$/;
const address = z
  .string()
  .regex(ADDRESS, 'must be "host:port" (IPv6 as "[addr]:port")')
  .refine((a) => Number(ADDRESS.exec(a)?.[1]) <= 65535, "port must be at most 65535");
const createSchema = z.object({
  name: shortText(256).refine((s) => !hasInvisibleCharacters(s), "must not contain control or invisible characters"),
  ttlMs: z.number().int().nonnegative(),
  maxUses: z.number().int().nonnegative(),
  addresses: z.array(address).max(8, "at most 8 addresses"),
});
const revokeSchema = z.object({ inviteId: z.string().regex(/^[0-9a-f]{16}$/, "must be 16 lowercase hex characters") });

/** The node listener as the invite handlers see it: its address and, with TLS, its SPKI pin. */
export interface InviteListener {
  /** The bound listener address, "host:port" ("[v6]:port"). */
  address(): string;
  /** SHA-256 of the TLS SPKI, or undefined without TLS. */
  tlsSpkiSha256(): Buffer | undefined;
}

/**
 * The addresses to put in an invite for a listener at `listen`: the address itself, or for a wildcard
 * (0.0.0.0, [::]) every non-internal interface address (IPv4 first; IPv6 link-local skipped, a phone
 * cannot dial it without a zone) with the port, falling back to the listen address when none exist.
 */
export function inviteAddresses(listen: string): string[] {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = listen.slice(i + 1);
  if (host !== "0.0.0.0" && host !== "::") return [listen];
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv4") v4.push(`${a.address}:${port}`);
      else if (host === "::" && !/^fe80:/i.test(a.address)) v6.push(`[${a.address.replace(/%.*$/, "")}]:${port}`);
    }
  }
  const all = [...new Set([...v4, ...v6])].slice(0, 8);
  return all.length > 0 ? all : [listen];
}

function nodeInvite(v: NodeInviteView): NodeInvite {
  return { ...v };
}

/** The invite RPCs of pairgate.v1.NodeAdminService (CreateNodeInvite, ListNodeInvites, RevokeNodeInvite). */
export function nodeInviteHandlers(
  nodes: NodePairing,
  env: HandlerEnv,
  listener: InviteListener,
): Pick<NodeAdminServiceServer, "createNodeInvite" | "listNodeInvites" | "revokeNodeInvite"> {
  return {
    createNodeInvite: unary("CreateNodeInvite", env, async (req) => {
      const r = validate(createSchema, req);
      const addresses = r.addresses.length > 0 ? r.addresses : inviteAddresses(listener.address());
      const tlsSpkiSha256 = listener.tlsSpkiSha256() ?? Buffer.alloc(0);
      const { invite, secret } = await nodes.createInvite({ name: r.name, ttlMs: r.ttlMs, maxUses: r.maxUses });
      const uri = formatInviteUri({ gatewayId: nodes.gatewayId, addresses, tlsSpkiSha256, inviteId: invite.inviteId, secret, name: invite.name });
      return {
        invite: nodeInvite(invite),
        secret: secret.toString("base64url"),
        uri,
        addresses,
        tlsSpkiSha256,
        gatewayId: nodes.gatewayId,
      };
    }),
    listNodeInvites: unary("ListNodeInvites", env, async () => ({ invites: (await nodes.listInvites()).map(nodeInvite) })),
    revokeNodeInvite: unary("RevokeNodeInvite", env, async (req) => {
      const r = validate(revokeSchema, req);
      return { invite: nodeInvite(await nodes.revokeInvite(r.inviteId)) };
    }),
  };
}
