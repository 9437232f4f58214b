import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import nacl from "tweetnacl";
import {
  Decision,
  NodeGatewayClient,
  NodeSignPurpose,
  type NodeSignPurposeValue,
  nodeIdFromPublicKey,
  nodeSignedPayload,
  PairgateClient,
  pairRequestDigest,
  tokenDigest,
  UnauthenticatedError,
} from "../../clients/ts";
import { GATEWAY_IDENTITY_KEY } from "../../src/domain/gateway-identity";
import { checkStoreIntegrity } from "../../src/domain/store-integrity";
import { openStateStore } from "../../src/storage/state-store";
import { storeInvariantViolations } from "../helpers/store-invariants";
import { tempDir } from "../helpers/temp-dir";

const CLI = join(__dirname, "..", "..", "dist", "src", "cli", "main.js");
/** The previous token's grace after RotateToken (docs/protocol.md §3a). */
const GRACE_MS = 10 * 60_000;
const COMMIT_LINES = ["node token claimed", "node token rotated"];

/** What a crash run counted. `lost` and `partial` must be 0. */
export interface CrashCounts {
  kills: number;
  /** State-changing RPCs that were acknowledged (each then checked after the next restart). */
  acked: number;
  /** Acknowledged state not in effect after a restart (a grant, revocation, claim or rotation lost). */
  lost: number;
  /** Invariant violations found in the killed daemon's store (half a transition). */
  partial: number;
  /** Operations in flight at a kill, resolved by observing the restarted daemon. */
  inFlight: number;
  /** Kills right after a claim/rotate commit whose reply the node then never used (lost replies). */
  lostReplies: number;
  /** Post-restart checks made. */
  checks: number;
  /** What went wrong, for the failure message (at most 20). */
  problems: string[];
}

/** Options of {@link runCrashHarness}. */
export interface CrashOptions {
  kills: number;
  senders?: number;
  nodes?: number;
  /** Progress lines (soak). */
  progress?: (line: string) => void;
}

interface Sender {
  accountId: string;
  senderId: string;
  allowed: boolean;
  uncertain: boolean;
  busy: boolean;
}

type NodePhase = "new" | "requested" | "approved" | "paired" | "revoked";
interface Node {
  keys: nacl.SignKeyPair;
  nodeId: string;
  phase: NodePhase;
  requestId: string;
  /** The latest token the node holds (acknowledged). */
  token: string;
  /** A token that must still work: acknowledged rotation, new token not yet used. */
  prev: string;
  /** When `prev` was rotated away (sent time): it is accepted until at least this + grace. */
  prevRotatedAtMs: number;
  /** Tokens that must never work again (retired by a first use or a revocation). */
  retired: string[];
  /** When the latest RotateToken was sent. */
  rotateSentAtMs: number;
  /** The current token's first use was acknowledged. */
  used: boolean;
  uncertain: "" | "approve" | "claim" | "auth" | "rotate" | "revoke";
  /** The last acknowledged op, if it was a claim or rotate (so a lost reply can be replayed). */
  lastAck: "" | "claim" | { rotatedAway: string };
  busy: boolean;
}

/** One `pairgate serve` subprocess and clients on it. */
interface Incarnation {
  child: ChildProcess;
  exited: Promise<void>;
  admin: PairgateClient;
  gateway: NodeGatewayClient;
  gatewayId: string;
  /** Node ids named by commit log lines seen since the trigger was armed. */
  onLine: ((line: string) => void) | undefined;
}

const rand = (n: number): number => Math.floor(Math.random() * n);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The crash harness: a real `pairgate serve` (built CLI) on a temp home, concurrent DM approve / add /
 * revoke and node request / approve / claim / authenticate / rotate / revoke traffic, SIGKILL at random
 * points (and sometimes right after a claim or rotate commit, dropping that reply), then: the killed
 * daemon's store is opened with the daemon's start-up checks and checked for broken invariants (by
 * `pairgate db verify`'s check and by the harness's own), the daemon restarted, and every acknowledged
 * operation checked through the API (approved senders allowed, revoked ones not, the latest
 * acknowledged token, or the previous one within the rotation rules, authenticates, retired tokens and
 * revoked nodes do not). Nodes recover from lost replies by retrying, never by pairing again.
 */
export async function runCrashHarness(options: CrashOptions): Promise<CrashCounts> {
  const dir = tempDir("pgc-");
  const home = join(dir.path, "home");
  const config = join(dir.path, "config.json");
  // Every simulated node connects from 127.0.0.1, and each restart verifies all of them at once: lift the
  // per-peer RPC and challenge quotas (test/integration/node-listener-limits.test.ts tests those).
  const limits = { rpcPerSecond: 1_000_000, rpcBurst: 1_000_000, challengesPerPeer: 100_000, pendingPerPeer: 1000, connectionsPerPeer: 100_000 };
  writeFileSync(config, JSON.stringify({ logLevel: "info", nodes: { listen: "127.0.0.1:0", maxPending: 64, limits } }));
  const counts: CrashCounts = { kills: 0, acked: 0, lost: 0, partial: 0, inFlight: 0, lostReplies: 0, checks: 0, problems: [] };
  const problem = (kind: "lost" | "partial", what: string): void => {
    counts[kind]++;
    if (counts.problems.length < 20) counts.problems.push(`${kind}: ${what}`);
  };
  const senders: Sender[] = Array.from({ length: options.senders ?? 24 }, (_, i) => ({
    accountId: `acct${i}`,
    senderId: String(100_000 + i),
    allowed: false,
    uncertain: false,
    busy: false,
  }));
  const nodes: Node[] = Array.from({ length: options.nodes ?? 8 }, () => {
    const keys = nacl.sign.keyPair();
    return { keys, nodeId: nodeIdFromPublicKey(keys.publicKey), phase: "new", requestId: "", token: "", prev: "", prevRotatedAtMs: 0, rotateSentAtMs: 0, retired: [], used: false, uncertain: "", lastAck: "", busy: false };
  });

  let inc: Incarnation | undefined;
  try {
    for (let round = 0; round < options.kills; round++) {
      inc = await startDaemon(home, config);
      await verify(inc, senders, nodes, counts, problem);
      // Traffic until the kill: a random delay, or (one round in four) the next claim/rotate commit.
      const running = { on: true };
      const workers = [
        ...[0, 1, 2].map(() => worker(senders, running, (s) => dmStep(inc!, s, counts))),
        ...[0, 1, 2].map(() => worker(nodes, running, (n) => nodeStep(inc!, n, counts))),
      ];
      const lostReplyNodes = new Set<string>();
      if (round % 4 === 3) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 3_000);
          inc!.onLine = (line) => {
            if (!COMMIT_LINES.some((l) => line.includes(l))) return;
            const node = /"node":"([0-9a-f]{64})"/.exec(line)?.[1];
            if (node !== undefined) lostReplyNodes.add(node);
            clearTimeout(timer);
            resolve();
          };
        });
      } else {
        await sleep(50 + rand(400));
      }
      running.on = false;
      inc.child.kill("SIGKILL");
      await inc.exited;
      counts.kills++;
      await Promise.all(workers);
      inc.admin.close();
      inc.gateway.close();
      for (const n of nodes) {
        // The node never saw that reply: it keeps what it had and must recover by retrying.
        if (lostReplyNodes.has(n.nodeId)) {
          counts.lostReplies++;
          if (n.uncertain === "") dropLastReply(n);
        }
      }
      for (const v of await checkKilledStore(home)) problem("partial", `after kill ${counts.kills}: ${v}`);
      options.progress?.(`kill ${counts.kills}: ${counts.acked} acked, ${counts.lost} lost, ${counts.partial} partial`);
    }
    inc = await startDaemon(home, config);
    await verify(inc, senders, nodes, counts, problem);
    inc.child.kill("SIGTERM");
    await inc.exited;
    inc.admin.close();
    inc.gateway.close();
    inc = undefined;
    return counts;
  } finally {
    if (inc !== undefined && inc.child.exitCode === null) {
      inc.child.kill("SIGKILL");
      await inc.exited;
    }
    dir.cleanup();
  }
}

/**
 * Opens the killed daemon's store the way the daemon does (every start-up check: marker, LevelDB's
 * recovery report, table checksums) and runs both `pairgate db verify`'s integrity check and the
 * harness's own invariant check on it. Returns the problems found.
 */
async function checkKilledStore(home: string): Promise<string[]> {
  let opened: Awaited<ReturnType<typeof openStateStore>>;
  try {
    opened = await openStateStore(home);
  } catch (err) {
    return [`the store does not open cleanly: ${String(err)}`];
  }
  const { store } = opened;
  try {
    const report = await checkStoreIntegrity(store, await store.meta().get(GATEWAY_IDENTITY_KEY));
    return [
      ...report.problems.map((p) => `db verify: ${p.collection} ${p.key}: ${p.message}`),
      ...(report.problemCount > report.problems.length ? [`db verify: ${report.problemCount - report.problems.length} more`] : []),
      ...(await storeInvariantViolations(store)),
    ];
  } finally {
    await store.close();
  }
}

/** The node's last claim or rotate reply is treated as never received. */
function dropLastReply(n: Node): void {
  if (n.lastAck === "claim") {
    n.token = "";
    n.phase = "approved";
    n.uncertain = "claim";
  } else if (n.lastAck !== "") {
    n.token = n.lastAck.rotatedAway;
    n.prev = "";
    n.used = true;
    n.uncertain = "rotate";
  }
  n.lastAck = "";
}

async function startDaemon(home: string, config: string): Promise<Incarnation> {
  const child = spawn(process.execPath, [CLI, "serve", "-c", config], {
    env: { ...process.env, NO_COLOR: "1", PAIRGATE_HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let buffered = "";
  let ready: (address: string) => void;
  const listening = new Promise<string>((resolve) => (ready = resolve));
  const inc = { child, exited, onLine: undefined } as Incarnation;
  child.stderr!.on("data", (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const m = /pairgate daemon listening on .* and (\S+) \(nodes/.exec(line);
      if (m !== null) ready(m[1]!);
      inc.onLine?.(line);
    }
  });
  const address = await Promise.race([listening, exited.then(() => Promise.reject(new Error(`pairgate serve exited: ${buffered}`)))]);
  inc.admin = new PairgateClient({ socketPath: join(home, "pairgate.sock") });
  inc.gateway = new NodeGatewayClient({ address, deadlineMs: 5_000 });
  inc.gatewayId = (await inc.gateway.getGatewayInfo()).gatewayId;
  return inc;
}

/** Any error but UNAUTHENTICATED: the daemon went away mid-call, so the call may or may not have happened. */
const transient = (err: unknown): boolean => !(err instanceof UnauthenticatedError);

function pickFree<T extends { busy: boolean; uncertain: unknown }>(items: T[]): T | undefined {
  const free = items.filter((x) => !x.busy && (x.uncertain === false || x.uncertain === ""));
  return free[rand(free.length)];
}

/** Runs `step` on random free entities (one call at a time per entity) until `running.on` turns false. */
async function worker<T extends { busy: boolean; uncertain: unknown }>(
  items: T[],
  running: { on: boolean },
  step: (item: T) => Promise<void>,
): Promise<void> {
  while (running.on) {
    const item = pickFree(items);
    if (item === undefined) {
      await sleep(5);
      continue;
    }
    item.busy = true;
    try {
      await step(item);
    } finally {
      item.busy = false;
    }
    // A step may finish without any I/O (e.g. every node revoked): yield to the event loop, or this
    // loop would run on microtasks alone and starve every timer, the kill timer included.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function dmStep(inc: Incarnation, s: Sender, counts: CrashCounts): Promise<void> {
  const scope = { channel: "telegram", accountId: s.accountId, senderId: s.senderId };
  let code = "";
  if (!s.allowed && Math.random() < 0.6) {
    try {
      code = (await inc.admin.dmAccess.checkInbound(scope)).pairingCode;
    } catch {
      return;
    }
    if (code === "") return;
  }
  try {
    if (s.allowed) await inc.admin.dmPairing.revokeAllowedSender(scope);
    else if (code !== "") await inc.admin.dmPairing.approvePairingCode({ channel: "telegram", accountId: s.accountId, code });
    else await inc.admin.dmPairing.addAllowedSender(scope);
    s.allowed = !s.allowed;
    counts.acked++;
  } catch {
    s.uncertain = true;
  }
}

/** Signs and sends the node calls (the node's key, a fresh nonce each time). */
function nodeCalls(inc: Incarnation, n: Node) {
  const signed = async (purpose: NodeSignPurposeValue, body: Uint8Array) => {
    const { nonce } = await inc.gateway.createChallenge(n.nodeId);
    return { nonce, signature: nacl.sign.detached(nodeSignedPayload(purpose, inc.gatewayId, n.nodeId, nonce, body), n.keys.secretKey) };
  };
  return {
    request: async (): Promise<string> => {
      const fields = { displayName: "crash", platform: "android", version: "1", deviceFamily: "phone", modelIdentifier: "x", caps: [] as string[] };
      const s = await signed(NodeSignPurpose.pairRequest, pairRequestDigest({ ...fields, publicKey: n.keys.publicKey }));
      return (await inc.gateway.requestPairing({ ...fields, publicKey: Buffer.from(n.keys.publicKey), ...s, signature: Buffer.from(s.signature) })).requestId;
    },
    claim: async (): Promise<string> => {
      const s = await signed(NodeSignPurpose.claim, new Uint8Array());
      return (await inc.gateway.claimToken(n.nodeId, s.nonce, s.signature)).token;
    },
    auth: async (token: string): Promise<string> => {
      const s = await signed(NodeSignPurpose.connect, tokenDigest(token));
      return (await inc.gateway.authenticate(n.nodeId, s.nonce, s.signature, token)).sessionToken;
    },
    rotate: async (session: string): Promise<string> => {
      const s = await signed(NodeSignPurpose.rotate, tokenDigest(session));
      return (await inc.gateway.rotateToken(session, s.nonce, s.signature)).token;
    },
  };
}

/** Acknowledged first use (or use) of the current token: the previous token is retired. */
function usedToken(n: Node, counts: CrashCounts): void {
  if (!n.used) counts.acked++;
  n.used = true;
  if (n.prev !== "") n.retired.push(n.prev);
  n.prev = "";
  n.retired = n.retired.slice(-4);
}

async function nodeStep(inc: Incarnation, n: Node, counts: CrashCounts): Promise<void> {
  const call = nodeCalls(inc, n);
  const step = async <T>(uncertain: Node["uncertain"], fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (!transient(err)) throw err;
      n.uncertain = uncertain;
      return undefined;
    }
  };
  try {
    if (n.phase === "new") {
      const id = await step("", call.request);
      if (id !== undefined) [n.phase, n.requestId] = ["requested", id];
    } else if (n.phase === "requested") {
      if ((await step("approve", () => inc.admin.nodeAdmin.approveNode(n.requestId))) === undefined) return;
      [n.phase, n.lastAck] = ["approved", ""];
      counts.acked++;
    } else if (n.phase === "approved") {
      const token = await step("claim", call.claim);
      if (token === undefined) return;
      Object.assign(n, { phase: "paired", token, prev: "", used: false, lastAck: "claim" });
      counts.acked++;
    } else if (n.phase === "paired") {
      const r = rand(10);
      if (r === 9) {
        if ((await step("revoke", () => inc.admin.nodeAdmin.revokeNode(n.nodeId))) === undefined) return;
        n.retired.push(...[n.token, n.prev].filter((t) => t !== ""));
        Object.assign(n, { phase: "revoked", lastAck: "" });
        counts.acked++;
        return;
      }
      if (r === 8 && n.prev !== "" && Date.now() < n.prevRotatedAtMs + GRACE_MS - 1_000) {
        await step("", () => call.auth(n.prev));
        return;
      }
      const session = await step(n.used ? "" : "auth", () => call.auth(n.token));
      if (session === undefined) return;
      usedToken(n, counts);
      n.lastAck = "";
      if (r < 4) return;
      n.rotateSentAtMs = Date.now();
      const fresh = await step("rotate", () => call.rotate(session));
      if (fresh === undefined) return;
      Object.assign(n, { prev: n.token, prevRotatedAtMs: n.rotateSentAtMs, token: fresh, used: false, lastAck: { rotatedAway: n.token } });
      counts.acked++;
    }
  } catch (err) {
    // UNAUTHENTICATED while the daemon runs, for a call that must succeed.
    throw new Error(`node ${n.nodeId.slice(0, 8)} (${n.phase}): ${String(err)}`);
  }
}

/** After a restart: every acknowledged operation must be in effect; in-flight ones are resolved. */
async function verify(
  inc: Incarnation,
  senders: Sender[],
  nodes: Node[],
  counts: CrashCounts,
  problem: (kind: "lost" | "partial", what: string) => void,
): Promise<void> {
  await Promise.all([
    ...senders.map(async (s) => {
      const r = await inc.admin.dmAccess.checkInbound({ channel: "telegram", accountId: s.accountId, senderId: s.senderId });
      const allowed = r.decision === Decision.DECISION_ALLOW;
      counts.checks++;
      if (s.uncertain) counts.inFlight++;
      else if (allowed !== s.allowed) problem("lost", `sender ${s.accountId}/${s.senderId} is ${allowed ? "allowed" : "not allowed"} but the last acknowledged operation ${s.allowed ? "approved" : "revoked"} it`);
      s.allowed = allowed;
      s.uncertain = false;
    }),
    ...nodes.map((n) => verifyNode(inc, n, counts, problem)),
  ]);
}

async function verifyNode(inc: Incarnation, n: Node, counts: CrashCounts, problem: (kind: "lost" | "partial", what: string) => void): Promise<void> {
  const call = nodeCalls(inc, n);
  const who = `node ${n.nodeId.slice(0, 8)}`;
  const works = async (fn: () => Promise<unknown>): Promise<boolean> => {
    counts.checks++;
    try {
      await fn();
      return true;
    } catch (err) {
      if (transient(err)) throw err;
      return false;
    }
  };
  const mustWork = async (what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    const ok = await works(fn);
    if (!ok) problem("lost", `${who}: ${what}`);
    return ok;
  };
  if (n.uncertain !== "") counts.inFlight++;
  const was = n.uncertain;
  n.uncertain = "";
  for (const t of n.retired) {
    if (await works(() => call.auth(t))) problem("lost", `${who}: a retired or revoked token authenticates`);
  }
  const claimNow = async (what: string): Promise<void> => {
    let token = "";
    if (await mustWork(what, async () => (token = await call.claim()))) Object.assign(n, { phase: "paired", token, prev: "", used: false });
    else n.phase = "new";
  };
  if (was === "approve") {
    let token = "";
    if (await works(async () => (token = await call.claim()))) Object.assign(n, { phase: "paired", token, prev: "", used: false });
    else n.phase = "requested";
    return;
  }
  if (was === "claim" || (was === "" && n.phase === "approved")) return claimNow(was === "claim" ? "repeating a claim after a lost reply failed" : "an acknowledged approval cannot claim");
  if (was === "revoke") {
    if (await works(() => call.auth(n.token))) {
      usedToken(n, counts);
    } else {
      n.retired.push(...[n.token, n.prev].filter((t) => t !== ""));
      Object.assign(n, { phase: "new", token: "", prev: "", used: false });
    }
    return;
  }
  if (n.phase === "revoked") {
    if (await works(call.claim)) problem("lost", `${who}: a revoked node can claim a token`);
    Object.assign(n, { phase: "new", token: "", prev: "", used: false });
    return;
  }
  if (n.phase !== "paired") return;
  if (was === "rotate") {
    // The rotation may have committed: the token the node holds is then the previous one.
    let session = "";
    if (!(await mustWork("the token held during a lost rotation no longer authenticates", async () => (session = await call.auth(n.token))))) return;
    let fresh = "";
    if (!(await mustWork("repeating a rotation failed", async () => (fresh = await call.rotate(session))))) return;
    // A repeated rotation keeps the previous token's first deadline.
    Object.assign(n, { prev: n.token, prevRotatedAtMs: n.rotateSentAtMs, token: fresh, used: false });
    counts.acked++;
  }
  if (was !== "auth" && n.prev !== "" && Date.now() < n.prevRotatedAtMs + GRACE_MS - 1_000) {
    await mustWork("the previous token stopped working before the new one was used", () => call.auth(n.prev));
  }
  if (await mustWork(was === "auth" ? "the token whose first use was in flight fails" : "the latest acknowledged token fails", () => call.auth(n.token))) {
    const prev = n.prev;
    usedToken(n, counts);
    if (prev !== "" && (await works(() => call.auth(prev)))) problem("lost", `${who}: the previous token works after the new one was used`);
  }
}
