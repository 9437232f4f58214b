import { createHash, randomBytes, sign } from "node:crypto";
import { connect as http2Connect, constants } from "node:http2";
import { connect as netConnect } from "node:net";
import { NodeSignPurpose, nodeSignedPayload } from "../clients/ts/signed-payload";
import { ConnectRequest, ConnectResponse } from "../src/gen/pairgate/v1/node_pairing_service";
import { benchNode } from "./bench-data";

/**
 * The reconnect storm (issue: "a reconnect storm of 10,000 nodes completes with no RESOURCE_EXHAUSTED
 * for paired nodes"): every paired node reconnects at once, as after a gateway restart, each from its
 * own loopback address (127.1.x.y: nodes of different homes reach the gateway from different
 * addresses), each over its own TCP connection with one Connect stream. Plain HTTP/2 (node:http2), as
 * grpc-js cannot choose a local address. Counts the final statuses; RESOURCE_EXHAUSTED must be 0.
 */
export interface StormResult {
  nodes: number;
  /** ms from the first connection attempt to the last session (or failure). */
  wallMs: number;
  sessions: number;
  /** Attempts repeated after a dropped connection or UNAVAILABLE. */
  retries: number;
  /** Nodes that never got a session. */
  finalFailures: number;
  /** Failed attempts by grpc-status (or "connect" for TCP/HTTP/2 errors, "closed" for a stream closed without status). */
  failures: Record<string, number>;
  resourceExhausted: number;
  /** Daemon CPU during the storm, µs per established session. */
  serverCpuUsPerSession: number;
}

/** Outcomes a node retries (a dropped connection, UNAVAILABLE = 14), and how often. */
const RETRIED = new Set(["connect", "closed", "14"]);
const MAX_ATTEMPTS = 6;

const frame = (m: Uint8Array): Buffer => {
  const b = Buffer.alloc(5 + m.length);
  b.writeUInt32BE(m.length, 1);
  b.set(m, 5);
  return b;
};

/** One node's Connect over its own connection from `localAddress`; resolves with "session" or the failure. */
function connectOnce(host: string, port: number, localAddress: string, index: number, gatewayId: string): Promise<string> {
  const node = benchNode(index);
  const digest = createHash("sha256").update(node.token, "utf8").digest();
  return new Promise((resolve) => {
    const socket = netConnect({ host, port, localAddress, noDelay: true });
    const session = http2Connect(`http://${host}:${port}`, { createConnection: () => socket });
    let settled = false;
    const done = (outcome: string): void => {
      if (settled) return;
      settled = true;
      session.destroy();
      resolve(outcome);
    };
    session.on("error", () => done("connect"));
    socket.on("error", () => done("connect"));
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: "/pairgate.v1.NodePairingService/Connect",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => done("connect"));
    let buf = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const len = buf.readUInt32BE(1);
        const r = ConnectResponse.decode(buf.subarray(5, 5 + len));
        buf = buf.subarray(5 + len);
        if (r.message?.$case === "challenge") {
          const payload = nodeSignedPayload(NodeSignPurpose.connect, gatewayId, node.nodeId, r.message.value.nonce, digest);
          const proof = { signature: sign(null, payload, node.privateKey), token: node.token };
          stream.write(frame(ConnectRequest.encode({ message: { $case: "proof", value: proof } }).finish()));
        } else if (r.message?.$case === "session") {
          done("session");
        }
      }
    });
    const onStatus = (headers: Record<string, unknown>): void => {
      const code = headers["grpc-status"];
      if (code !== undefined) done(String(code));
    };
    stream.on("response", onStatus);
    stream.on("trailers", onStatus);
    stream.on("close", () => done("closed"));
    stream.write(frame(ConnectRequest.encode({ message: { $case: "hello", value: { nodeId: node.nodeId, clientNonce: randomBytes(32) } } }).finish()));
  });
}

/**
 * Runs the storm against `target` ("127.0.0.1:port"): `count` nodes (bench node indexes 0..count-1,
 * which must be paired), all started at once, at most `inFlight` connecting at a time on this side
 * (the client's own limit, so the load generator is not what fails).
 */
export async function reconnectStorm(
  target: string,
  gatewayId: string,
  count: number,
  serverCpuUs: () => number,
  inFlight = 2000,
): Promise<StormResult> {
  const i = target.lastIndexOf(":");
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  const failures: Record<string, number> = {};
  let sessions = 0;
  let retries = 0;
  let finalFailures = 0;
  let next = 0;
  const cpu0 = serverCpuUs();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      // One address per node: 127.1.0.1 .. 127.1.0.250, 127.1.1.1 .. (up to 62,500 nodes).
      const local = `127.1.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      // Like a real node (docs/protocol.md §8.4): a dropped connection or UNAVAILABLE is retried with
      // jittered backoff; anything else is final.
      for (let attempt = 0; ; attempt++) {
        const outcome = await connectOnce(host, port, local, n, gatewayId);
        if (outcome === "session") {
          sessions++;
          break;
        }
        failures[outcome] = (failures[outcome] ?? 0) + 1;
        if (!RETRIED.has(outcome) || attempt >= MAX_ATTEMPTS - 1) {
          finalFailures++;
          break;
        }
        retries++;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  const wallMs = performance.now() - t0;
  const cpu = serverCpuUs() - cpu0;
  return {
    nodes: count,
    wallMs,
    sessions,
    retries,
    finalFailures,
    failures,
    resourceExhausted: failures[String(8)] ?? 0,
    serverCpuUsPerSession: sessions > 0 ? cpu / sessions : Number.NaN,
  };
}
