import { type sendUnaryData, Server, ServerCredentials, type ServerUnaryCall } from "@grpc/grpc-js";
import { expect } from "chai";
import nacl from "tweetnacl";
import {
  challengeProofBody,
  GatewayIdentityError,
  GatewayProofPurpose,
  gatewayInfoProofBody,
  gatewayProofPayload,
  InvalidArgumentError,
  NodeGatewayClient,
  nodeIdFromPublicKey,
  type VerifiedGateway,
} from "../../clients/ts";
import {
  type CreateChallengeRequest,
  type CreateChallengeResponse,
  type GetGatewayInfoRequest,
  type GetGatewayInfoResponse,
  NodePairingServiceService,
} from "../../src/gen/pairgate/v1/node_pairing_service";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

type Forge = {
  info: (req: GetGatewayInfoRequest) => GetGatewayInfoResponse;
  challenge: (req: CreateChallengeRequest) => CreateChallengeResponse;
};

/** An impostor gateway on a real grpc-js server: answers GetGatewayInfo / CreateChallenge as `forge` says. */
async function fakeGateway(forge: Forge): Promise<{ address: string; stop: () => void }> {
  const server = new Server();
  const reply = <Q, R>(f: (q: Q) => R) => (call: ServerUnaryCall<Q, R>, cb: sendUnaryData<R>) => cb(null, f(call.request));
  server.addService(NodePairingServiceService, {
    getGatewayInfo: reply(forge.info),
    createChallenge: reply(forge.challenge),
  } as never);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

describe("gateway proofs (docs/protocol.md §7)", () => {
  let t: TestDaemon;
  let client: NodeGatewayClient;
  const node = nodeIdFromPublicKey(nacl.sign.keyPair().publicKey);
  before(async () => {
    t = await startTestDaemon();
    client = new NodeGatewayClient({ address: t.daemon.nodeAddress });
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  it("proves the real gateway over a fresh client nonce, and signs every challenge asked with one", async () => {
    const gateway = await client.proveGateway();
    const again = await client.proveGateway({ gatewayId: gateway.gatewayId });
    expect(again.gatewayId).to.equal(gateway.gatewayId);
    const challenge = await client.createChallenge(node, gateway); // verified inside
    expect(challenge.gatewaySignature).to.have.length(64);
    // Without a client nonce nothing is signed (a proof over static data proves nothing).
    expect((await client.getGatewayInfo()).gatewaySignature).to.have.length(0);
    expect((await client.createChallenge(node)).gatewaySignature).to.have.length(0);
  });

  it("refuses a client nonce shorter than 16 or longer than 64 bytes with INVALID_ARGUMENT naming client_nonce", async () => {
    for (const n of [1, 15, 65]) {
      const err = await rejection(client.getGatewayInfo(new Uint8Array(n)));
      expect(err).to.be.instanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).to.equal("client_nonce");
    }
  });

  it("lets the reference client refuse an impostor that replays the real gateway's signed answers", async () => {
    const real = await client.proveGateway();
    // Recorded from the real gateway: an info proof and a challenge proof, both genuine.
    const recordedInfo = await client.getGatewayInfo(new Uint8Array(32).fill(7));
    const recordedChallenge = await client.createChallenge(node, real);
    const fake = await fakeGateway({ info: () => recordedInfo, challenge: () => recordedChallenge });
    const impostor = new NodeGatewayClient({ address: fake.address });
    try {
      expect(await rejection(impostor.proveGateway({ gatewayId: real.gatewayId }))).to.be.instanceOf(GatewayIdentityError);
      expect(await rejection(impostor.createChallenge(node, real))).to.be.instanceOf(GatewayIdentityError);
    } finally {
      impostor.close();
      fake.stop();
    }
  });

  it("refuses an impostor that claims the pinned id with its own key, or signs with its own key", async () => {
    const real: VerifiedGateway = await client.proveGateway();
    const own = nacl.sign.keyPair();
    const ownId = nodeIdFromPublicKey(own.publicKey);
    const signInfo = (gatewayId: string, req: GetGatewayInfoRequest): GetGatewayInfoResponse => {
      const body = gatewayInfoProofBody("pairgate", "0.1.0", 1);
      const msg = gatewayProofPayload(GatewayProofPurpose.gatewayInfo, gatewayId, "", req.clientNonce, body);
      return {
        gatewayId,
        name: "pairgate",
        version: "0.1.0",
        publicKey: Buffer.from(own.publicKey),
        protocolVersion: 1,
        gatewaySignature: Buffer.from(nacl.sign.detached(msg, own.secretKey)),
      };
    };
    const signChallenge = (req: CreateChallengeRequest): CreateChallengeResponse => {
      const nonce = Buffer.alloc(32, 9);
      const expiresAtMs = Date.now() + 60_000;
      const msg = gatewayProofPayload(GatewayProofPurpose.challenge, real.gatewayId, req.nodeId, nonce, challengeProofBody(expiresAtMs, req.clientNonce));
      return { nonce, expiresAtMs, gatewaySignature: Buffer.from(nacl.sign.detached(msg, own.secretKey)) };
    };
    const claimsPinnedId = await fakeGateway({ info: (req) => signInfo(real.gatewayId, req), challenge: signChallenge });
    const ownIdentity = await fakeGateway({ info: (req) => signInfo(ownId, req), challenge: signChallenge });
    const a = new NodeGatewayClient({ address: claimsPinnedId.address });
    const b = new NodeGatewayClient({ address: ownIdentity.address });
    try {
      // Its key does not hash to the pinned id.
      expect(await rejection(a.proveGateway({ gatewayId: real.gatewayId }))).to.be.instanceOf(GatewayIdentityError);
      // A self-consistent identity, but not the pinned one.
      const err = await rejection(b.proveGateway({ gatewayId: real.gatewayId }));
      expect(err).to.be.instanceOf(GatewayIdentityError);
      expect((err as Error).message).to.contain("identity changed");
      // A challenge signed by any key but the pinned one is refused before the node signs it.
      expect(await rejection(a.createChallenge(node, real))).to.be.instanceOf(GatewayIdentityError);
    } finally {
      a.close();
      b.close();
      claimsPinnedId.stop();
      ownIdentity.stop();
    }
  });
});
