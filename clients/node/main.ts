#!/usr/bin/env node
/**
 * pairgate-node: the reference mobile node. It is what an iOS/Android implementer reads first, so it
 * does everything a real node does, in order, with nothing hidden:
 *
 *   pair     create an Ed25519 key (tweetnacl), pin the gateway id, ask to pair (signed), wait for the
 *            owner's approval, claim the node token once and store it.
 *   connect  one Connect stream: hello -> the gateway's signed challenge -> signature + token -> session,
 *            then heartbeats and the node's events; exits 1 with a clear message when the owner revokes
 *            the node.
 *   rotate   replace the node token (and survive a lost reply, docs/protocol.md §3a).
 *   pair --invite URI
 *            the same, approved at once: the owner's invite URI (`pairgate nodes invite`, a QR code
 *            on a phone) gives the addresses, the gateway id and TLS pin to pin before first contact,
 *            and a setup secret the node proves it knows (docs/protocol.md §3b) without sending it.
 *   status   show the local state (never the token or the private key).
 *
 * The bytes it signs are specified in docs/protocol.md; the builder is clients/ts/signed-payload.ts.
 * It uses no node:crypto for the protocol itself (tweetnacl + @noble/hashes), like a mobile app would.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Command } from "commander";
import nacl from "tweetnacl";
import {
  GatewayIdentityError,
  type InviteUri,
  inviteKeySeed,
  inviteProofPayload,
  type NodeConnection,
  NodeGatewayClient,
  pairInviteDigest,
  parseInviteUri,
  UnavailableError,
  normalizePin,
  spkiPinOf,
  TlsPinMismatchError,
  NodePairingStatus,
  NodeSignPurpose,
  type NodeSignPurposeValue,
  nodeIdFromPublicKey,
  nodeSignedPayload,
  PairgateError,
  pairRequestDigest,
  retryLostReply,
  tokenDigest,
  UnauthenticatedError,
  type VerifiedGateway,
  WatchNodeEventType,
} from "../ts";

/** What the node keeps on disk (mode 0600). The seed and the token are secrets. */
interface NodeState {
  version: 1;
  /** Ed25519 private seed (32 bytes, base64). */
  seed: string;
  nodeId: string;
  /** The gateway address used to pair, "host:port". */
  gateway: string;
  /** The pinned gateway id ("" until the first contact). */
  gatewayId: string;
  /** The pinned gateway's raw Ed25519 public key, base64 ("" until the first contact; absent in old files). */
  gatewayPublicKey?: string;
  /** PEM file of the gateway's TLS certificate the pin was first taken from ("" = none). */
  tlsCa: string;
  /**
   * The gateway's TLS key pin, `sha256/<base64>` of its SPKI ("" = plaintext; absent in old files,
   * then derived from `tlsCa`). Every connection must present this key; it survives renewals.
   */
  tlsPin?: string;
  displayName: string;
  platform: string;
  /** The pending request, while waiting for approval. */
  requestId: string;
  /** The node token ("" until claimed). */
  token: string;
}

class NodeCliError extends Error {}

function defaultStatePath(): string {
  return process.env.PAIRGATE_NODE_STATE ?? join(homedir(), ".pairgate-node", "state.json");
}

function loadState(path: string): NodeState | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as NodeState;
}

/**
 * Writes the state atomically and durably, owner-only: temp file, fsync, rename, fsync of the
 * directory. A token is saved this way before it is ever used, so a crash never loses a token the
 * gateway may already consider used.
 */
function saveState(path: string, state: NodeState): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function keysOf(state: NodeState): nacl.SignKeyPair {
  return nacl.sign.keyPair.fromSeed(Buffer.from(state.seed, "base64"));
}

/**
 * The gateway client: plaintext, or TLS pinned to the gateway's key. The certificate the gateway
 * presents now is fetched and accepted only if it carries the pinned key; it is then the only root,
 * with host-name checks on (never disabled), and the pin is checked again on the real connection.
 */
async function clientFor(state: NodeState): Promise<NodeGatewayClient> {
  const pin = state.tlsPin !== undefined && state.tlsPin !== "" ? state.tlsPin : state.tlsCa !== "" ? spkiPinOf(readFileSync(state.tlsCa)) : "";
  if (pin === "") return new NodeGatewayClient({ address: state.gateway });
  try {
    return await NodeGatewayClient.connectPinned({ address: state.gateway, tlsPin: pin });
  } catch (err) {
    if (err instanceof TlsPinMismatchError) {
      throw new NodeCliError(`${err.message}. Refusing to connect: this may be an impostor (or the gateway's TLS key was replaced; then pair again with the new pin from: pairgate nodes tls).`);
    }
    throw err;
  }
}

/** Signs one protocol payload with the node key. */
function sign(state: NodeState, purpose: NodeSignPurposeValue, nonce: Uint8Array, body: Uint8Array): Uint8Array {
  const payload = nodeSignedPayload(purpose, state.gatewayId, state.nodeId, nonce, body);
  return nacl.sign.detached(payload, keysOf(state).secretKey);
}

/**
 * Step 0 of every conversation: the gateway proves it holds the key of the pinned gateway id, over a
 * fresh nonce of ours (trust on first use: the first contact pins id and key). Every challenge after
 * that is checked against the pinned key (client.createChallenge(nodeId, gateway)) before we sign it.
 */
async function pinGateway(client: NodeGatewayClient, state: NodeState, statePath: string): Promise<VerifiedGateway> {
  let gateway: VerifiedGateway;
  try {
    gateway = await client.proveGateway(state.gatewayId === "" ? undefined : { gatewayId: state.gatewayId });
  } catch (err) {
    if (err instanceof GatewayIdentityError) {
      throw new NodeCliError(
        `${err.message} (${state.gateway}). Refusing to continue: this may be an impostor. ` +
          "Nothing was sent and the credentials are kept; if the gateway was really reinstalled, delete the state file and pair again.",
      );
    }
    throw err;
  }
  const publicKey = Buffer.from(gateway.publicKey).toString("base64");
  if (state.gatewayId === "" || state.gatewayPublicKey !== publicKey) {
    state.gatewayId = gateway.gatewayId;
    state.gatewayPublicKey = publicKey;
    saveState(statePath, state);
  }
  return gateway;
}

async function pair(opts: {
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

async function connect(opts: { state: string; interval: string }): Promise<void> {
  const statePath = resolve(opts.state);
  const state = loadState(statePath);
  if (state === undefined || state.token === "") throw new NodeCliError(`not paired yet (no token in ${statePath}); run: pairgate-node pair`);
  const intervalMs = Math.max(1, Number(opts.interval)) * 1000;
  const client = await clientFor(state);
  let timer: NodeJS.Timeout | undefined;
  let connection: NodeConnection | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    connection?.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const gone = new NodeCliError("this node is no longer paired (revoked by the owner, or re-paired); run pairgate-node pair to pair again");
  try {
    const gateway = await pinGateway(client, state, statePath);
    // One Connect stream (docs/protocol.md §9): hello -> the gateway's signed challenge (checked before
    // anything is signed) -> the CONNECT signature over SHA-256(token), and the token -> the session;
    // then heartbeats and the node's events (renames, rotations, revocation) on the same stream.
    const open = (): Promise<NodeConnection> =>
      client.connect(state.nodeId, gateway, (challenge) => ({
        signature: sign(state, NodeSignPurpose.connect, challenge.nonce, tokenDigest(state.token)),
        token: state.token,
      }));
    for (let first = true; !stopped; first = false) {
      try {
        connection = await open();
      } catch (err) {
        // A reconnect refused with UNAUTHENTICATED: the node is no longer paired.
        throw !first && err instanceof UnauthenticatedError ? gone : err;
      }
      const c = connection;
      if (first) console.log(`Authenticated as node ${state.nodeId.slice(0, 12)}; heartbeat every ${intervalMs / 1000}s.`);
      timer = setInterval(() => {
        c.heartbeat().catch((err: unknown) => {
          if (!stopped) console.error(`pairgate-node: heartbeat failed: ${err instanceof Error ? err.message : String(err)}`);
        });
      }, intervalMs);
      await c.heartbeat();
      if (first) console.log("Heartbeat ok.");
      let revoked = false;
      try {
        for await (const e of c.events) {
          // SUBSCRIBED comes first: from here on no rename, rotation or revocation can be missed.
          if (e.type === WatchNodeEventType.WATCH_NODE_EVENT_TYPE_SUBSCRIBED) console.log(`Watching for changes as "${e.displayName}".`);
          if (e.type === WatchNodeEventType.WATCH_NODE_EVENT_TYPE_RENAMED) console.log(`The owner renamed this node to "${e.displayName}".`);
          if (e.type === WatchNodeEventType.WATCH_NODE_EVENT_TYPE_TOKEN_ROTATED) console.log("The node token was rotated.");
          if (e.type === WatchNodeEventType.WATCH_NODE_EVENT_TYPE_REVOKED) {
            revoked = true;
            console.log("The owner revoked this node.");
          }
        }
      } catch (err) {
        if (stopped) break;
        if (!(err instanceof UnauthenticatedError)) throw err;
        if (revoked) throw gone;
        // Without REVOKED: the session expired (15 min) or the node was re-paired; connecting again
        // tells the two apart (it fails only when the node is no longer paired).
      } finally {
        clearInterval(timer);
      }
    }
    console.log("Disconnected.");
  } finally {
    if (timer !== undefined) clearInterval(timer);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    client.close();
  }
}

// ---- token delivery: claim and rotate that survive a lost reply (docs/protocol.md §3a) ----------------

/** How a retried call reports itself. */
function retrying(what: string): { onRetry: (err: Error, attempt: number, delayMs: number) => void } {
  return { onRetry: (err, attempt, delayMs) => console.error(`pairgate-node: ${what} failed (${err.message}); retry ${attempt} in ${delayMs} ms`) };
}

/** Challenge -> Authenticate with `token`; retried only when the reply may have been lost. */
function authenticateWith(
  client: NodeGatewayClient,
  state: NodeState,
  gateway: VerifiedGateway,
  token: string,
): Promise<{ sessionToken: string; expiresAtMs: number }> {
  return retryLostReply(async () => {
    const { nonce } = await client.createChallenge(state.nodeId, gateway);
    const res = await client.authenticate(state.nodeId, nonce, sign(state, NodeSignPurpose.connect, nonce, tokenDigest(token)), token);
    return { sessionToken: res.sessionToken, expiresAtMs: res.expiresAtMs };
  }, retrying("authenticate"));
}

/**
 * ClaimToken with a fresh nonce and CLAIM signature per attempt. On UNAVAILABLE / DEADLINE_EXCEEDED
 * the gateway may have issued a token whose reply was lost: claiming again is allowed until a token is
 * first used, and replaces the lost one. The token is stored durably before its first use, which
 * closes ClaimToken.
 */
async function claimAndStore(client: NodeGatewayClient, state: NodeState, statePath: string, gateway: VerifiedGateway): Promise<void> {
  const claimed = await retryLostReply(async () => {
    const { nonce } = await client.createChallenge(state.nodeId, gateway);
    return client.claimToken(state.nodeId, nonce, sign(state, NodeSignPurpose.claim, nonce, new Uint8Array()));
  }, retrying("claim"));
  state.token = claimed.token;
  state.requestId = "";
  saveState(statePath, state);
  await authenticateWith(client, state, gateway, state.token);
  console.log(`Paired as "${claimed.displayName}". Token stored in ${statePath}. Run: pairgate-node connect`);
}

/**
 * Rotates the node token. Each attempt authenticates with the stored token (still accepted as the
 * previous token if an earlier attempt's reply was lost) and calls RotateToken with a fresh nonce; the
 * new token is stored durably, then used once, which retires the old one at the gateway.
 */
async function rotate(opts: { state: string }): Promise<void> {
  const statePath = resolve(opts.state);
  const state = loadState(statePath);
  if (state === undefined || state.token === "") throw new NodeCliError(`not paired yet (no token in ${statePath}); run: pairgate-node pair`);
  const client = await clientFor(state);
  try {
    const gateway = await pinGateway(client, state, statePath);
    const fresh = await retryLostReply(async () => {
      const session = await authenticateWith(client, state, gateway, state.token);
      const { nonce } = await client.createChallenge(state.nodeId, gateway);
      const sig = sign(state, NodeSignPurpose.rotate, nonce, tokenDigest(session.sessionToken));
      return (await client.rotateToken(session.sessionToken, nonce, sig)).token;
    }, retrying("rotate"));
    state.token = fresh;
    saveState(statePath, state);
    await authenticateWith(client, state, gateway, fresh);
    console.log(`Token rotated and stored in ${statePath}; the old token no longer works.`);
  } finally {
    client.close();
  }
}

// ---- end of token delivery ------------------------------------------------------------------------

function status(opts: { state: string; json?: boolean }): void {
  const statePath = resolve(opts.state);
  const state = loadState(statePath);
  const view = state === undefined
    ? { state: statePath, paired: false }
    : {
        state: statePath,
        nodeId: state.nodeId,
        gateway: state.gateway,
        gatewayId: state.gatewayId,
        displayName: state.displayName,
        platform: state.platform,
        pendingRequest: state.requestId,
        paired: state.token !== "",
      };
  if (opts.json) {
    console.log(JSON.stringify(view, null, 2));
    return;
  }
  for (const [k, v] of Object.entries(view)) console.log(`${k.padEnd(15)} ${String(v)}`);
}

/** Builds the `pairgate-node` command tree. */
export function buildNodeProgram(): Command {
  const program = new Command("pairgate-node").description("pairgate reference node: pair with a gateway and stay connected");
  const stateOpt = ["--state <file>", "state file (mode 0600; default $PAIRGATE_NODE_STATE or ~/.pairgate-node/state.json)", defaultStatePath()] as const;
  program
    .command("pair")
    .description("create this node's key, ask the gateway owner to approve it (or present an invite), then claim and store the node token")
    .option("--gateway <host:port>", "the gateway's node listener (nodes.listen); not needed with --invite")
    .option("--invite <uri>", "pair by invite: the pairgate://pair?... URI from `pairgate nodes invite` (approved at once)")
    .option("--name <name>", "name shown to the owner (with --invite, default: the invite's name)")
    .option("--platform <platform>", "operating system", "android")
    .option("--device-family <family>", "device family", "phone")
    .option("--model <model>", "model identifier", "")
    .option("--app-version <version>", "app version", "0.1.0")
    .option("--tls-pin <pin>", "use TLS and pin the gateway's key: sha256/<base64> or hex, from `pairgate nodes tls`")
    .option("--tls-ca <pem>", "use TLS and pin the key of this certificate (e.g. the gateway's node-tls/cert.pem)")
    .option(...stateOpt)
    .action(pair);
  program
    .command("connect")
    .description("connect (one Connect stream: challenge, signature + token, session), heartbeat until revoked or Ctrl-C")
    .option("--interval <seconds>", "heartbeat interval", "30")
    .option(...stateOpt)
    .action(connect);
  program
    .command("rotate")
    .description("replace the node token (retries safely if a reply is lost), store it, and use it once")
    .option(...stateOpt)
    .action(rotate);
  program
    .command("status")
    .description("show this node's local state (never the token or key)")
    .option("--json", "machine-readable output")
    .option(...stateOpt)
    .action(status);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildNodeProgram().parseAsync(process.argv);
  } catch (err) {
    const message = err instanceof NodeCliError || err instanceof PairgateError ? err.message : String(err);
    console.error(`pairgate-node: ${message}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
