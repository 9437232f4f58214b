/** Token delivery of the reference node: claim and rotate that survive a lost reply (docs/protocol.md §3a). */
import { resolve } from "node:path";
import { type NodeGatewayClient, NodeSignPurpose, retryLostReply, tokenDigest, type VerifiedGateway } from "../ts";
import { clientFor, loadState, NodeCliError, type NodeState, pinGateway, saveState, sign } from "./node-state";

/** How a retried call reports itself. */
function retrying(what: string): { onRetry: (err: Error, attempt: number, delayMs: number) => void } {
  return { onRetry: (err, attempt, delayMs) => console.error(`pairgate-node: ${what} failed (${err.message}); retry ${attempt} in ${delayMs} ms`) };
}

/** Challenge -> Authenticate with `token`; retried only when the reply may have been lost. */
export function authenticateWith(
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
export async function claimAndStore(client: NodeGatewayClient, state: NodeState, statePath: string, gateway: VerifiedGateway): Promise<void> {
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
export async function rotate(opts: { state: string }): Promise<void> {
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

