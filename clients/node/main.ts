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
 * Files: node-state.ts (state file, gateway pin, signing), pair.ts, connect.ts, token-delivery.ts
 * (claim and rotate); this file holds `status` and the command tree.
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { PairgateError } from "../ts";
import { connect } from "./connect";
import { defaultStatePath, loadState, NodeCliError } from "./node-state";
import { pair } from "./pair";
import { rotate } from "./token-delivery";

/** `pairgate-node status`: the local state, never the token or the key. */
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
