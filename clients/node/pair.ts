/** `pairgate-node pair`: ask the owner (or present an invite), then claim the node token. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import nacl from "tweetnacl";
import {
  type InviteUri,
  inviteKeySeed,
  inviteProofPayload,
  type NodeGatewayClient,
  NodePairingStatus,
  NodeSignPurpose,
  nodeIdFromPublicKey,
  normalizePin,
  pairInviteDigest,
  pairRequestDigest,
  parseInviteUri,
  spkiPinOf,
  UnauthenticatedError,
  UnavailableError,
  type VerifiedGateway,
} from "../ts";
import { clientFor, keysOf, loadState, NodeCliError, type NodeState, pinGateway, saveState, sign } from "./node-state";
import { claimAndStore } from "./token-delivery";

/**
 * `pairgate-node pair`: a fresh key, the gateway pinned, a signed pairing request (or an invite's
 * proof), the owner's decision awaited, then the token claimed and stored. Throws NodeCliError.
 */
export async function pair(opts: {
  gateway?: string;
  name?: string;
  invite?: string;
  platform: string;
  state: string;
  tlsCa?: string;
  tlsPin?: string;
  deviceFamily: string;
  model: string;
  appVersion: string;
}): Promise<void> {
  const invite = opts.invite === undefined ? undefined : parseInvite(opts.invite);
  if (invite === undefined && opts.gateway === undefined) throw new NodeCliError("pair needs --gateway <host:port> (or --invite <uri>)");
  const name = opts.name ?? (invite !== undefined && invite.name !== "" ? invite.name : undefined);
  if (name === undefined) throw new NodeCliError("pair needs --name <name> (the invite carries no name)");
  const statePath = resolve(opts.state);
  let state = loadState(statePath);
  if (state !== undefined && invite !== undefined && state.gatewayId !== "" && state.gatewayId !== invite.gatewayId) {
    throw new NodeCliError(`this node is paired with gateway ${state.gatewayId.slice(0, 12)}, the invite is for ${invite.gatewayId.slice(0, 12)}; use another --state file`);
  }
  if (state === undefined) {
    // 1. A fresh Ed25519 key. Its SHA-256 is our node id.
    const keys = nacl.sign.keyPair();
    state = {
      version: 1,
      seed: Buffer.from(keys.secretKey.subarray(0, 32)).toString("base64"),
      nodeId: nodeIdFromPublicKey(keys.publicKey),
      gateway: opts.gateway ?? invite?.addresses[0] ?? "",
      gatewayId: "",
      gatewayPublicKey: "",
      tlsCa: opts.tlsCa === undefined ? "" : resolve(opts.tlsCa),
      tlsPin: opts.tlsPin !== undefined ? normalizePin(opts.tlsPin) : opts.tlsCa !== undefined ? spkiPinOf(readFileSync(opts.tlsCa)) : "",
      displayName: name,
      platform: opts.platform,
      requestId: "",
      token: "",
    };
    saveState(statePath, state);
  }
  state.displayName = name;
  state.platform = opts.platform;
  if (invite !== undefined) {
    // The invite names the gateway: pin its id and TLS key before the first contact (no trust on
    // first use), and take the first address that answers.
    state.gatewayId = invite.gatewayId;
    state.tlsPin = invite.tlsPin;
    state.tlsCa = "";
    saveState(statePath, state);
    await pickAddress(state, statePath, invite);
  }
  const client = await clientFor(state);
  try {
    // 2. Pin the gateway id and key (the gateway proves it holds the key).
    const gateway = await pinGateway(client, state, statePath);
    // An earlier run was approved but did not get its token (lost reply, gave up retrying): claim it
    // now instead of asking the owner again. UNAUTHENTICATED means not approved (yet): ask as usual.
    if (state.token === "" && state.requestId !== "") {
      try {
        await claimAndStore(client, state, statePath, gateway);
        return;
      } catch (err) {
        if (!(err instanceof UnauthenticatedError)) throw err;
      }
    }
    if (invite !== undefined) {
      await pairByInvite(client, state, statePath, gateway, invite, { ...opts, name });
      return;
    }
    // 3. A nonce for our node id (signed by the gateway: checked), then the signed request. The
    //    signature covers every field we send.
    const { nonce } = await client.createChallenge(state.nodeId, gateway);
    const fields = {
      publicKey: keysOf(state).publicKey,
      displayName: name,
      platform: opts.platform,
      version: opts.appVersion,
      deviceFamily: opts.deviceFamily,
      modelIdentifier: opts.model,
      caps: [] as string[],
    };
    const signature = sign(state, NodeSignPurpose.pairRequest, nonce, pairRequestDigest(fields));
    const ticket = await client.requestPairing({ ...fields, publicKey: Buffer.from(fields.publicKey), nonce, signature: Buffer.from(signature) });
    state.requestId = ticket.requestId;
    saveState(statePath, state);
    console.log(`Node ${state.nodeId}`);
    console.log(`Pairing request ${ticket.requestId}${ticket.isRepair ? " (repair)" : ""} sent to gateway ${state.gatewayId.slice(0, 12)}.`);
    if (ticket.status !== NodePairingStatus.NODE_PAIRING_STATUS_APPROVED) {
      console.log(`Waiting for the owner to run: pairgate nodes approve ${ticket.requestId.slice(0, 8)}`);
      // 4. Wait for the decision. The stream carries no secret.
      let final = NodePairingStatus.NODE_PAIRING_STATUS_PENDING;
      for await (const update of client.awaitPairing(ticket.requestId, state.nodeId)) {
        final = update.status;
        if (final !== NodePairingStatus.NODE_PAIRING_STATUS_PENDING) break;
      }
      if (final === NodePairingStatus.NODE_PAIRING_STATUS_REJECTED) throw new NodeCliError("the owner rejected this node");
      if (final === NodePairingStatus.NODE_PAIRING_STATUS_EXPIRED) {
        throw new NodeCliError("the request expired (nobody approved it within 5 minutes); run pair again");
      }
      if (final !== NodePairingStatus.NODE_PAIRING_STATUS_APPROVED) throw new NodeCliError("lost the pairing stream; run pair again");
    }
    // 5. Claim the token (with retries after a lost reply), store it durably, then use it once.
    await claimAndStore(client, state, statePath, gateway);
  } finally {
    client.close();
  }
}

function parseInvite(uri: string): InviteUri {
  try {
    return parseInviteUri(uri);
  } catch (err) {
    throw new NodeCliError(err instanceof Error ? err.message : String(err));
  }
}

/** Tries the invite's addresses in order; keeps the first whose gateway answers. */
async function pickAddress(state: NodeState, statePath: string, invite: InviteUri): Promise<void> {
  const failures: string[] = [];
  for (const address of invite.addresses) {
    state.gateway = address;
    const client = await clientFor(state).catch((err: unknown) => {
      failures.push(`${address}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
    if (client === undefined) continue;
    try {
      await client.getGatewayInfo();
      saveState(statePath, state);
      return;
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      failures.push(`${address}: ${err.message}`);
    } finally {
      client.close();
    }
  }
  throw new NodeCliError(`no address of the invite answers (${failures.join("; ")}); is this phone on the gateway's network?`);
}

/**
 * Pairing by invite (docs/protocol.md §3b): the invite key (derived from the setup secret) signs the
 * INVITE_PROOF over this request, the node key signs PAIR_INVITE over the request, the invite id and
 * that proof. The secret itself is never sent. Approved at once: claim the token.
 */
async function pairByInvite(
  client: NodeGatewayClient,
  state: NodeState,
  statePath: string,
  gateway: VerifiedGateway,
  invite: InviteUri,
  opts: { name: string; platform: string; appVersion: string; deviceFamily: string; model: string },
): Promise<void> {
  const { nonce } = await client.createChallenge(state.nodeId, gateway);
  const fields = {
    publicKey: keysOf(state).publicKey,
    displayName: opts.name,
    platform: opts.platform,
    version: opts.appVersion,
    deviceFamily: opts.deviceFamily,
    modelIdentifier: opts.model,
    caps: [] as string[],
  };
  const inviteKey = nacl.sign.keyPair.fromSeed(inviteKeySeed(invite.secret));
  const proof = nacl.sign.detached(inviteProofPayload(state.gatewayId, state.nodeId, nonce, invite.inviteId, pairRequestDigest(fields)), inviteKey.secretKey);
  const signature = sign(state, NodeSignPurpose.pairInvite, nonce, pairInviteDigest(fields, invite.inviteId, proof));
  const ticket = await client.requestPairing({
    ...fields,
    publicKey: Buffer.from(fields.publicKey),
    nonce,
    signature: Buffer.from(signature),
    inviteId: invite.inviteId,
    inviteProof: Buffer.from(proof),
  });
  if (ticket.status !== NodePairingStatus.NODE_PAIRING_STATUS_APPROVED) throw new NodeCliError("the gateway did not approve the invite request");
  state.requestId = ticket.requestId;
  saveState(statePath, state);
  console.log(`Node ${state.nodeId}`);
  console.log(`Approved by invite ${invite.inviteId}${ticket.isRepair ? " (repair)" : ""} at gateway ${state.gatewayId.slice(0, 12)} (${state.gateway}).`);
  await claimAndStore(client, state, statePath, gateway);
}
