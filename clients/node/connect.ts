/** `pairgate-node connect`: stay connected over one Connect stream (docs/protocol.md §9). */
import { resolve } from "node:path";
import { type NodeConnection, NodeSignPurpose, tokenDigest, UnauthenticatedError, WatchNodeEventType } from "../ts";
import { clientFor, loadState, NodeCliError, pinGateway, sign } from "./node-state";

/**
 * `pairgate-node connect`: one Connect stream, heartbeats and the node's events until revoked or
 * stopped; reconnects after a session ends. Throws NodeCliError when the node is no longer paired.
 */
export async function connect(opts: { state: string; interval: string }): Promise<void> {
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

