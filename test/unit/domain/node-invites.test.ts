import { expect } from "chai";
import nacl from "tweetnacl";
import {
  inviteKeySeed,
  inviteProofPayload,
  NodeSignPurpose,
  nodeIdFromPublicKey,
  nodeSignedPayload,
  pairInviteDigest,
  pairRequestDigest,
} from "../../../clients/ts/signed-payload";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError } from "../../../src/domain/errors";
import { gatewayIdentityOf, newGatewayKey } from "../../../src/domain/gateway-identity";
import { silentLogger } from "../../../src/domain/logger";
import { type NodeEvent, NodePairing } from "../../../src/domain/node-pairing";
import { expectRejection } from "../../helpers/expect-error";
import { FakeClock } from "../../helpers/fake-clock";
import { memorySharedStore } from "../../helpers/memory-store";
import { RecordingStore } from "../../helpers/recording-store";

const META = { displayName: "Pixel 8", platform: "android", version: "1", deviceFamily: "phone", modelIdentifier: "P8", caps: [] as string[] };
const ORIGIN = { remoteIp: "10.0.0.5", loopback: false };

describe("Node invites (pairing by invite)", () => {
  let clock: FakeClock;
  let store: RecordingStore;
  let nodes: NodePairing;
  let events: NodeEvent[];
  const identity = gatewayIdentityOf(newGatewayKey(0));

  beforeEach(async () => {
    clock = new FakeClock();
    store = new RecordingStore(await memorySharedStore());
    nodes = new NodePairing({ store, clock, logger: silentLogger, identity, gatewayName: "gw", version: "0.1.0", maxActiveInvites: 3 });
    events = [];
    nodes.events.subscribe((e) => events.push(e));
  });

  /** A node that builds invite requests like docs/protocol.md §3b says; `tamper` breaks one part. */
  function node(keys = nacl.sign.keyPair()) {
    const nodeId = nodeIdFromPublicKey(keys.publicKey);
    const byInvite = async (inviteId: string, secret: Uint8Array, options: { proofFor?: string; nonce?: Uint8Array } = {}) => {
      const nonce = options.nonce ?? (await nodes.createChallenge(nodeId, ORIGIN.remoteIp)).nonce;
      const fields = { ...META, publicKey: keys.publicKey };
      const inviteKey = nacl.sign.keyPair.fromSeed(inviteKeySeed(secret));
      const proof = nacl.sign.detached(
        inviteProofPayload(identity.gatewayId, options.proofFor ?? nodeId, nonce, inviteId, pairRequestDigest(fields)),
        inviteKey.secretKey,
      );
      const body = pairInviteDigest(fields, inviteId, proof);
      const signature = nacl.sign.detached(nodeSignedPayload(NodeSignPurpose.pairInvite, identity.gatewayId, nodeId, nonce, body), keys.secretKey);
      return { input: { ...fields, nonce, signature, inviteId, inviteProof: proof }, nonce };
    };
    return {
      nodeId,
      pair: async (inviteId: string, secret: Uint8Array, options: { proofFor?: string } = {}) => nodes.requestPairing((await byInvite(inviteId, secret, options)).input, ORIGIN),
      byInvite,
      ordinary: async () => {
        const { nonce } = await nodes.createChallenge(nodeId, ORIGIN.remoteIp);
        const fields = { ...META, publicKey: keys.publicKey };
        const signature = nacl.sign.detached(nodeSignedPayload(NodeSignPurpose.pairRequest, identity.gatewayId, nodeId, nonce, pairRequestDigest(fields)), keys.secretKey);
        return nodes.requestPairing({ ...fields, nonce, signature }, ORIGIN);
      },
    };
  }

  async function noChange(fn: () => Promise<unknown>, type: abstract new (...args: never[]) => Error): Promise<Error> {
    const writes = store.transactions.length;
    const err = await expectRejection(fn(), type);
    expect(store.transactions.length, "a refused request writes nothing").to.equal(writes);
    expect((await nodes.listPending({ pageSize: 0, pageToken: "" })).items, "and creates no pending request").to.have.length(0);
    return err;
  }

  it("approves a node that proves a live invite at once, in one synced write that also counts the use", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "Alice's phone", ttlMs: 0, maxUses: 0 });
    expect(invite).to.include({ name: "Alice's phone", maxUses: 1, uses: 0, expiresAtMs: clock.now() + 10 * 60_000 });
    expect(invite.inviteId).to.match(/^[0-9a-f]{16}$/);
    expect(secret).to.have.length(32);
    const stored = JSON.stringify(await store.get("nodeInvites", invite.inviteId));
    expect(stored, "the secret is never stored").to.not.include(secret.toString("base64url")).and.not.include(secret.toString("hex"));
    expect(store.transactions.at(-1)!.durable).to.equal(true);

    const n = node();
    store.transactions.length = 0;
    const ticket = await n.pair(invite.inviteId, secret);
    expect(ticket).to.include({ status: "approved", nodeId: n.nodeId, isRepair: false, expiresAtMs: 0 });
    expect(store.transactions).to.have.length(1);
    expect(store.transactions[0]!.durable).to.equal(true);
    expect(store.transactions[0]!.ops.map((o) => `${o.type}:${o.collection}`).sort()).to.deep.equal(["put:audit", "put:nodeInvites", "put:nodes"]);
    // Audited as "by invite", in that same write, with no secret in it.
    const audit: Array<Record<string, unknown>> = [];
    for await (const [, r] of store.entries("audit", {})) audit.push(r as unknown as Record<string, unknown>);
    const approval = audit.find((r) => r.action === "node.approve");
    expect(approval).to.include({ role: "node", subjectId: n.nodeId, via: "invite", detail: `invite ${invite.inviteId}` });
    expect(audit.map((r) => r.action)).to.deep.equal(["node.invite_create", "node.approve"]);
    expect(JSON.stringify(audit)).to.not.include(secret.toString("base64url"));
    const [listed] = (await nodes.listNodes({ pageSize: 0, pageToken: "" })).items;
    expect(listed).to.include({ nodeId: n.nodeId, approvedVia: "invite", inviteId: invite.inviteId, tokenState: "awaiting-claim" });
    expect(events.map((e) => [e.type, e.approvedVia, e.inviteId])).to.deep.equal([["approved", "invite", invite.inviteId]]);
    const [after] = await nodes.listInvites();
    expect(after).to.include({ uses: 1, lastNodeId: n.nodeId, lastUsedAtMs: clock.now() });
  });

  it("is single use by default: a second node with the same secret is refused with PERMISSION_DENIED and nothing changes", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 });
    await node().pair(invite.inviteId, secret);
    const err = await noChange(() => node().pair(invite.inviteId, secret), PermissionDeniedError);
    expect(err.message).to.match(/was already used \(1 of 1\)/);
    expect((await nodes.listNodes({ pageSize: 0, pageToken: "" })).items).to.have.length(1);
  });

  it("lets exactly one of two racing nodes use a single-use invite", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 });
    const results = await Promise.allSettled([node().pair(invite.inviteId, secret), node().pair(invite.inviteId, secret)]);
    expect(results.map((r) => r.status).sort()).to.deep.equal(["fulfilled", "rejected"]);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).to.be.instanceOf(PermissionDeniedError);
    expect((await nodes.listNodes({ pageSize: 0, pageToken: "" })).items).to.have.length(1);
  });

  it("allows --uses N pairings, then refuses", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 2 });
    await node().pair(invite.inviteId, secret);
    await node().pair(invite.inviteId, secret);
    await noChange(() => node().pair(invite.inviteId, secret), PermissionDeniedError);
  });

  it("refuses a wrong secret and a proof made for another node", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 });
    const wrong = Buffer.from(secret);
    wrong[0]! ^= 1;
    const err = await noChange(() => node().pair(invite.inviteId, wrong), PermissionDeniedError);
    expect(err.message).to.match(/wrong setup secret/);
    await noChange(() => node().pair(invite.inviteId, secret, { proofFor: "ab".repeat(32) }), PermissionDeniedError);
    // Both failed attempts left the invite intact for the right node.
    expect((await node().pair(invite.inviteId, secret)).status).to.equal("approved");
  });

  it("refuses a replayed request: its nonce is spent (UNAUTHENTICATED), even while the invite has uses left", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 5 });
    const n = node();
    const { input } = await n.byInvite(invite.inviteId, secret);
    await nodes.requestPairing(input, ORIGIN);
    await noChange(() => nodes.requestPairing(input, ORIGIN), UnauthenticatedError);
    expect((await nodes.listInvites())[0]!.uses).to.equal(1);
  });

  it("expires on the (fake) wall clock and is swept", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 60_000, maxUses: 0 });
    clock.advance(59_999);
    expect(await nodes.listInvites()).to.have.length(1);
    clock.advance(1);
    expect(await nodes.listInvites(), "an expired invite is not listed").to.have.length(0);
    const err = await noChange(() => node().pair(invite.inviteId, secret), PermissionDeniedError);
    expect(err.message).to.match(/has expired/);
    await nodes.sweepExpired();
    expect(await store.get("nodeInvites", invite.inviteId), "the sweep deletes it").to.equal(undefined);
    await noChange(() => node().pair(invite.inviteId, secret), PermissionDeniedError);
  });

  it("revokes: the secret stops working, already paired nodes stay paired", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 2 });
    const first = node();
    await first.pair(invite.inviteId, secret);
    store.transactions.length = 0;
    const revoked = await nodes.revokeInvite(invite.inviteId);
    expect(revoked.inviteId).to.equal(invite.inviteId);
    expect(store.transactions.map((w) => w.durable)).to.deep.equal([true]);
    const err = await noChange(() => node().pair(invite.inviteId, secret), PermissionDeniedError);
    expect(err.message).to.match(/unknown or was revoked/);
    expect((await nodes.listNodes({ pageSize: 0, pageToken: "" })).items.map((n) => n.nodeId)).to.deep.equal([first.nodeId]);
    await expectRejection(nodes.revokeInvite(invite.inviteId), NotFoundError);
    await expectRejection(nodes.revokeInvite("not-an-id"), InvalidArgumentError);
  });

  it("replaces a pending request of the same node and resolves it as approved", async () => {
    const n = node();
    const pending = await n.ordinary();
    expect(pending.status).to.equal("pending");
    const updates: string[] = [];
    const stop = await nodes.followRequest(pending.requestId, n.nodeId, (u) => updates.push(u.status));
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 });
    const ticket = await n.pair(invite.inviteId, secret);
    stop();
    expect(ticket.requestId, "the pending request's id carries over").to.equal(pending.requestId);
    expect(updates).to.deep.equal(["pending", "approved"]);
    expect((await nodes.listPending({ pageSize: 0, pageToken: "" })).items).to.have.length(0);
  });

  it("validates input before consuming anything, and bounds ttl, uses and live invites", async () => {
    await expectRejection(nodes.createInvite({ name: "", ttlMs: 59_999, maxUses: 0 }), InvalidArgumentError);
    await expectRejection(nodes.createInvite({ name: "", ttlMs: 24 * 3600_000 + 1, maxUses: 0 }), InvalidArgumentError);
    await expectRejection(nodes.createInvite({ name: "", ttlMs: 0, maxUses: 101 }), InvalidArgumentError);
    await expectRejection(nodes.createInvite({ name: "bad\u202Ename", ttlMs: 0, maxUses: 0 }), InvalidArgumentError);
    for (let i = 0; i < 3; i++) await nodes.createInvite({ name: `i${i}`, ttlMs: 60_000, maxUses: 0 });
    await expectRejection(nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 }), ResourceExhaustedError);
    clock.advance(60_000);
    await nodes.createInvite({ name: "after expiry", ttlMs: 0, maxUses: 0 });

    const n = node();
    const { input, nonce } = await n.byInvite("0123456789abcdef", Buffer.alloc(32));
    await expectRejection(nodes.requestPairing({ ...input, inviteId: "XYZ" }, ORIGIN), InvalidArgumentError);
    await expectRejection(nodes.requestPairing({ ...input, inviteProof: new Uint8Array(10) }, ORIGIN), InvalidArgumentError);
    // Proof without an invite id is not an ordinary request either.
    await expectRejection(nodes.requestPairing({ ...input, inviteId: "" }, ORIGIN), InvalidArgumentError);
    // The nonce survived every INVALID_ARGUMENT: the real request (unknown invite) still gets past it.
    const err = await expectRejection(nodes.requestPairing((await n.byInvite("0123456789abcdef", Buffer.alloc(32), { nonce })).input, ORIGIN), PermissionDeniedError);
    expect(err.message).to.match(/unknown or was revoked/);
  });

  it("refuses an invite request signed as an ordinary PAIR_REQUEST (purposes are separate)", async () => {
    const { invite, secret } = await nodes.createInvite({ name: "", ttlMs: 0, maxUses: 0 });
    const keys = nacl.sign.keyPair();
    const n = node(keys);
    const { input, nonce } = await n.byInvite(invite.inviteId, secret);
    const fields = { ...META, publicKey: keys.publicKey };
    const asOrdinary = nacl.sign.detached(nodeSignedPayload(NodeSignPurpose.pairRequest, identity.gatewayId, n.nodeId, nonce, pairRequestDigest(fields)), keys.secretKey);
    await noChange(() => nodes.requestPairing({ ...input, signature: asOrdinary }, ORIGIN), UnauthenticatedError);
    expect((await nodes.listInvites())[0]!.uses).to.equal(0);
  });
});
