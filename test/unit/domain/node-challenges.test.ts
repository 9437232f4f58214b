import { expect } from "chai";
import { ResourceExhaustedError, UnauthenticatedError } from "../../../src/domain/errors";
import { NodeChallenges } from "../../../src/domain/node-challenges";
import { FakeClock } from "../../helpers/fake-clock";

const A = "a".repeat(64);
const B = "b".repeat(64);
const id = (i: number): string => i.toString(16).padStart(64, "0");
const P1 = "10.0.0.1";
const P2 = "10.0.0.2";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("node challenges", () => {
  let clock: FakeClock;
  beforeEach(() => {
    clock = new FakeClock();
  });

  it("issues 32 random bytes valid for 60 s", () => {
    const c = new NodeChallenges(clock).issue(A, P1, false);
    expect(c.nonce).to.have.length(32);
    expect(c.expiresAtMs).to.equal(clock.now() + 60_000);
  });

  it("accepts a nonce once, for the node it was issued to", () => {
    const ch = new NodeChallenges(clock);
    const { nonce } = ch.issue(A, P1, true);
    ch.consume(nonce, A);
    expect(() => ch.consume(nonce, A)).to.throw(UnauthenticatedError);
  });

  it("burns a nonce presented by another node", () => {
    const ch = new NodeChallenges(clock);
    const { nonce } = ch.issue(A, P1, false);
    expect(() => ch.consume(nonce, B)).to.throw(UnauthenticatedError);
    expect(() => ch.consume(nonce, A)).to.throw(UnauthenticatedError);
  });

  it("rejects a nonce at 60 s and keeps it valid until then", () => {
    const ch = new NodeChallenges(clock);
    const early = ch.issue(A, P1, true).nonce;
    const late = ch.issue(A, P1, true).nonce;
    clock.advance(59_999);
    ch.consume(early, A);
    clock.advance(1);
    const err = thrown(() => ch.consume(late, A)) as UnauthenticatedError;
    expect(err).to.be.instanceOf(UnauthenticatedError);
    expect(err.logDetail).to.equal("nonce expired");
    expect(err.message).to.equal("authentication failed");
  });

  it("times nonces on the monotonic clock: a wall-clock step of -1 h or +1 h changes nothing", () => {
    const ch = new NodeChallenges(clock);
    const back = ch.issue(A, P1, true).nonce;
    const forward = ch.issue(A, P1, true).nonce;
    const stale = ch.issue(A, P1, true).nonce;
    clock.stepWall(-3600_000);
    clock.advance(30_000);
    ch.consume(back, A); // 30 s old: valid
    clock.stepWall(2 * 3600_000);
    ch.consume(forward, A); // still 30 s old for the monotonic clock
    clock.stepWall(-3600_000);
    clock.advance(30_001);
    expect((thrown(() => ch.consume(stale, A)) as UnauthenticatedError).logDetail).to.equal("nonce expired");
  });

  it("keeps at most 4 nonces per (node, peer), evicting only that pair's oldest", () => {
    const ch = new NodeChallenges(clock);
    const nonces = Array.from({ length: 5 }, () => ch.issue(A, P1, true).nonce);
    expect(ch.size).to.equal(4);
    expect(() => ch.consume(nonces[0]!, A)).to.throw(UnauthenticatedError);
    ch.consume(nonces[4]!, A);
  });

  it("never evicts a node's nonce when another peer requests challenges for the node's id", () => {
    const ch = new NodeChallenges(clock);
    const mine = ch.issue(A, P1, true).nonce;
    for (let i = 0; i < 100; i++) ch.issue(A, `10.1.0.${i % 50}`, true);
    ch.consume(mine, A);
  });

  it("refuses a peer beyond its quota with the time until its oldest nonce expires", () => {
    const ch = new NodeChallenges(clock, { perPeer: 3 });
    for (let i = 0; i < 3; i++) ch.issue(id(i), P1, false);
    clock.advance(10_000);
    const err = thrown(() => ch.issue(id(9), P1, false)) as ResourceExhaustedError;
    expect(err).to.be.instanceOf(ResourceExhaustedError);
    expect(err.retryAfterMs).to.equal(50_000);
    ch.issue(id(9), P2, false); // another peer is unaffected
    clock.advance(50_000);
    ch.issue(id(9), P1, false);
  });

  it("keeps paired node ids' nonces in a pool that unknown ids cannot drain", () => {
    const ch = new NodeChallenges(clock, { unknown: 100, paired: 10 });
    // 100 distinct peers holding one nonce each for random ids: the unknown pool is full and nobody is
    // busier than anybody else, so nothing can yield.
    for (let i = 0; i < 100; i++) ch.issue(id(i), `10.2.0.${i}`, false);
    expect(thrown(() => ch.issue(id(1000), P1, false))).to.be.instanceOf(ResourceExhaustedError);
    const { nonce } = ch.issue(A, P1, true);
    ch.consume(nonce, A);
  });

  it("makes the busiest peer of a full pool yield its oldest nonce to a peer holding fewer", () => {
    const ch = new NodeChallenges(clock, { unknown: 10 });
    const flood = Array.from({ length: 10 }, (_, i) => ch.issue(id(i), P1, false).nonce);
    const { nonce } = ch.issue(B, P2, false);
    ch.consume(nonce, B);
    expect(() => ch.consume(flood[0]!, id(0))).to.throw(UnauthenticatedError); // yielded
    ch.consume(flood[1]!, id(1));
  });

  it("refuses when the pool is full and the requester is itself the busiest", () => {
    const ch = new NodeChallenges(clock, { unknown: 3 });
    for (let i = 0; i < 3; i++) ch.issue(id(i), P1, false);
    const err = thrown(() => ch.issue(id(3), P1, false)) as ResourceExhaustedError;
    expect(err).to.be.instanceOf(ResourceExhaustedError);
    expect(err.retryAfterMs).to.equal(60_000);
    clock.advance(60_000);
    ch.issue(id(3), P1, false);
    expect(ch.size).to.equal(1);
  });
});
