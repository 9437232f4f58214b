import { createHash, randomBytes, sign } from "node:crypto";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { nodeSignedPayload, NodeSignPurpose } from "../clients/ts/signed-payload";
import {
  type CheckInboundRequest,
  type CheckInboundResponse,
  Decision,
  DmAccessServiceService,
} from "../src/gen/pairgate/v1/dm_access_service";
import {
  type AuthenticateRequest,
  type AuthenticateResponse,
  ConnectRequest,
  ConnectResponse,
  type CreateChallengeRequest,
  type CreateChallengeResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  NodePairingServiceService,
} from "../src/gen/pairgate/v1/node_pairing_service";
import { benchNode, benchSender, type BenchNode } from "./bench-data";
import { type Op, run } from "./load-loop";
import { decodeEcho, ECHO_PATH, ECHO_PAYLOAD, type EchoMessage, encodeEcho } from "./echo-service";

/** Which calls a worker makes. */
export type WorkloadKind = "echo" | "allowed" | "unknown" | "handshake" | "heartbeat" | "connect";

/** What the orchestrator tells a worker at start. */
export interface WorkerSpec {
  kind: WorkloadKind;
  /** grpc-js target: "unix:/path" or "127.0.0.1:port". */
  target: string;
  /** Calls (or handshakes) in flight in this worker. */
  concurrency: number;
  /** This worker's number (0-based), for unique ids. */
  worker: number;
  /** allowed: the number of preloaded senders to pick from. */
  senders?: number;
  /** handshake / heartbeat: the number of paired nodes to pick from, and the gateway id they sign. */
  nodes?: number;
  gatewayId?: string;
  /**
   * Paced (open-loop) runs: this worker starts operations at this rate, evenly spaced, with at most
   * `concurrency` in flight; absent = closed loop (a new operation as soon as one completes).
   */
  ratePerS?: number;
}

/** Messages from the orchestrator. */
export type ToWorker = { type: "init"; spec: WorkerSpec } | { type: "run"; ms: number } | { type: "exit" };

/** One measured run of a worker. */
export interface WorkerResult {
  /** Completed operations (calls; handshakes count once). */
  ops: number;
  errors: number;
  firstError: string;
  /** Latency of each completed operation, µs. */
  latenciesUs: number[];
  /** This process's CPU during the run, µs (user + system). */
  cpuUs: number;
  /** Wall time of the run, µs. */
  wallUs: number;
  /** Outcome counts (e.g. created / reused / queue-full for the pairing path). */
  outcomes: Record<string, number>;
}

/** Messages to the orchestrator. */
export type FromWorker = { type: "ready" } | { type: "done"; result: WorkerResult } | { type: "failed"; error: string };

/** Accounts the unknown-sender mix spreads over, and the share of calls from each account's regulars. */
export const UNKNOWN_ACCOUNTS = 1_000;
export const UNKNOWN_REPEAT_SHARE = 0.25;
const UNKNOWN_REGULARS = 3;

function call<Req, Res>(
  client: Client,
  method: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => Res },
  request: Req,
  metadata?: Metadata,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata ?? new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err: ServiceError | null, res?: Res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

const pick = (n: number): number => Math.floor(Math.random() * n);

function nodeCache(): (index: number) => BenchNode & { tokenDigest: Buffer } {
  const cache = new Map<number, BenchNode & { tokenDigest: Buffer }>();
  return (index) => {
    let n = cache.get(index);
    if (n === undefined) {
      const node = benchNode(index);
      n = { ...node, tokenDigest: createHash("sha256").update(node.token, "utf8").digest() };
      cache.set(index, n);
    }
    return n;
  };
}

async function authenticate(client: Client, node: BenchNode & { tokenDigest: Buffer }, gatewayId: string): Promise<string> {
  const challenge = await call<CreateChallengeRequest, CreateChallengeResponse>(
    client,
    NodePairingServiceService.createChallenge,
    { nodeId: node.nodeId, clientNonce: Buffer.alloc(0) },
  );
  const payload = nodeSignedPayload(NodeSignPurpose.connect, gatewayId, node.nodeId, challenge.nonce, node.tokenDigest);
  const signature = sign(null, payload, node.privateKey);
  const res = await call<AuthenticateRequest, AuthenticateResponse>(client, NodePairingServiceService.authenticate, {
    nodeId: node.nodeId,
    nonce: challenge.nonce,
    signature,
    token: node.token,
  });
  return res.sessionToken;
}

/**
 * One Connect session (docs/protocol.md §9): open the stream with hello (a fresh client nonce, so the
 * gateway signs its challenge), sign the challenge, wait for the session, then half-close and wait for
 * the server's OK. The load generator does not verify the gateway's signature (that is client CPU, not
 * measured here).
 */
function connectSession(client: Client, node: BenchNode & { tokenDigest: Buffer }, gatewayId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      NodePairingServiceService.connect.path,
      (r: ConnectRequest) => Buffer.from(ConnectRequest.encode(r).finish()),
      (b: Buffer) => ConnectResponse.decode(b),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
    );
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (err === undefined) resolve();
      else reject(err);
    };
    call.on("data", (r: ConnectResponse) => {
      if (r.message?.$case === "challenge") {
        const payload = nodeSignedPayload(NodeSignPurpose.connect, gatewayId, node.nodeId, r.message.value.nonce, node.tokenDigest);
        call.write({ message: { $case: "proof", value: { signature: sign(null, payload, node.privateKey), token: node.token } } });
      } else if (r.message?.$case === "session") {
        // Half-close, as a node that disconnects cleanly does; the server then ends the stream (OK).
        // Not cancel(): a RST_STREAM per session trips HTTP/2's rapid-reset protection, which closes
        // the whole connection (INTERNAL) with every other session on it.
        sessionOpen = true;
        call.end();
      }
    });
    let sessionOpen = false;
    call.on("status", (s: { code: number }) => {
      if (s.code === 0 && sessionOpen) done();
    });
    call.on("error", (err: ServiceError) => done(err));
    call.write({ message: { $case: "hello", value: { nodeId: node.nodeId, clientNonce: randomBytes(32) } } });
  });
}

/** Builds the operation of `spec` (one call, or one handshake) after any setup it needs. */
async function makeOp(spec: WorkerSpec, client: Client): Promise<Op> {
  switch (spec.kind) {
    case "echo": {
      const method = { path: ECHO_PATH, requestSerialize: encodeEcho, responseDeserialize: (b: Buffer) => decodeEcho(b) };
      return async () => {
        await call<EchoMessage, EchoMessage>(client, method, ECHO_PAYLOAD);
        return "ok";
      };
    }
    case "allowed": {
      const total = spec.senders ?? 1;
      return async () => {
        const s = benchSender(total, pick(total));
        const res = await call<CheckInboundRequest, CheckInboundResponse>(client, DmAccessServiceService.checkInbound, {
          channel: s.channel,
          accountId: "",
          senderId: s.senderId,
          senderMeta: { username: "bench-user" },
          sentAtMs: Date.now(),
        });
        return res.decision === Decision.DECISION_ALLOW ? "allow" : "not-allowed";
      };
    }
    case "unknown": {
      let fresh = 0;
      return async () => {
        const account = `acct-${pick(UNKNOWN_ACCOUNTS)}`;
        const senderId =
          Math.random() < UNKNOWN_REPEAT_SHARE
            ? String(7_000_000_000 + pick(UNKNOWN_REGULARS))
            : String(8_000_000_000 + spec.worker * 1_000_000_000 + process.pid * 100_000 + fresh++);
        const res = await call<CheckInboundRequest, CheckInboundResponse>(client, DmAccessServiceService.checkInbound, {
          channel: "telegram",
          accountId: account,
          senderId,
          senderMeta: { username: "stranger" },
          sentAtMs: Date.now(),
        });
        if (res.decision === Decision.DECISION_ALLOW) return "allow";
        if (res.replyText !== "") return "code-created";
        if (res.pairingCode !== "") return "code-reused";
        return "queue-full";
      };
    }
    case "handshake": {
      const node = nodeCache();
      const total = spec.nodes ?? 1;
      const gatewayId = spec.gatewayId ?? "";
      return async () => {
        await authenticate(client, node(pick(total)), gatewayId);
        return "session";
      };
    }
    case "connect": {
      const node = nodeCache();
      const total = spec.nodes ?? 1;
      const gatewayId = spec.gatewayId ?? "";
      return async () => {
        await connectSession(client, node(pick(total)), gatewayId);
        return "session";
      };
    }
    case "heartbeat": {
      const node = nodeCache();
      const total = spec.nodes ?? 1;
      // A few sessions per worker, from distinct nodes; heartbeats rotate over them.
      const sessions: Metadata[] = [];
      for (let i = 0; i < 8; i++) {
        const token = await authenticate(client, node((spec.worker * 8 + i) % total), spec.gatewayId ?? "");
        const md = new Metadata();
        md.set("authorization", `Bearer ${token}`);
        sessions.push(md);
      }
      let next = 0;
      return async () => {
        const md = sessions[next++ % sessions.length]!.clone();
        await call<HeartbeatRequest, HeartbeatResponse>(client, NodePairingServiceService.heartbeat, {}, md);
        return "ok";
      };
    }
  }
}

function send(message: FromWorker): void {
  process.send?.(message);
}

let client: Client | undefined;
let op: Op | undefined;
let spec: WorkerSpec | undefined;

process.on("message", (message: ToWorker) => {
  const handle = async (): Promise<void> => {
    if (message.type === "init") {
      spec = message.spec;
      client = new Client(spec.target, credentials.createInsecure());
      op = await makeOp(spec, client);
      send({ type: "ready" });
    } else if (message.type === "run") {
      if (op === undefined || spec === undefined) throw new Error("run before init");
      send({ type: "done", result: await run(op, spec.concurrency, message.ms, spec.ratePerS) });
    } else {
      client?.close();
      process.exit(0);
    }
  };
  handle().catch((err: unknown) => send({ type: "failed", error: err instanceof Error ? err.message : String(err) }));
});
