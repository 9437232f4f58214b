import { expect } from "chai";
import { ResourceExhaustedError, UnauthenticatedError } from "../../../src/domain/errors";
import { NodeChallenges } from "../../../src/domain/node-challenges";
import { FakeClock } from "../../helpers/fake-clock";

const A = "a".repeat(64);
const B = "b".repeat(64);

describe("node challenges", () => {
  let clock: FakeClock;
  beforeEach(() => {
    clock = new FakeClock();
  });

  it("issues 32 random bytes valid for 60 s", () => {
    const c = new NodeChallenges(clock).issue(A);
    expect(c.nonce).to.have.length(32);
    expect(c.expiresAtMs).to.equal(clock.now() + 60_000);
  });

  it("accepts a nonce once, for the node it was issued to", () => {
    const ch = new NodeChallenges(clock);
    const { nonce } = ch.issue(A);
    ch.consume(nonce, A);
    expect(() => ch.consume(nonce, A)).to.throw(UnauthenticatedError);
  });

  it("burns a nonce presented by another node", () => {
    const ch = new NodeChallenges(clock);
    const { nonce } = ch.issue(A);
    expect(() => ch.consume(nonce, B)).to.throw(UnauthenticatedError);
    expect(() => ch.consume(nonce, A)).to.throw(UnauthenticatedError);
  });

  it("rejects a nonce at 60 s and keeps it valid until then", () => {
    const ch = new NodeChallenges(clock);
    const early = ch.issue(A).nonce;
    const late = ch.issue(A).nonce;
    clock.advance(59_999);
    ch.consume(early, A);
    clock.advance(1);
    const err = (() => {
      try {
        ch.consume(late, A);
      } catch (e) {
        return e as UnauthenticatedError;
      }
      return undefined;
    })();
    expect(err).to.be.instanceOf(UnauthenticatedError);
    expect(err?.logDetail).to.equal("nonce expired");
    expect(err?.message).to.equal("authentication failed");
  });

  it("keeps at most 4 nonces per node, evicting the oldest", () => {
    const ch = new NodeChallenges(clock);
    const nonces = Array.from({ length: 5 }, () => ch.issue(A).nonce);
    expect(ch.size).to.equal(4);
    expect(() => ch.consume(nonces[0]!, A)).to.throw(UnauthenticatedError);
    ch.consume(nonces[4]!, A);
  });

  it("refuses new challenges beyond the total bound until old ones expire", () => {
    const ch = new NodeChallenges(clock, { maxTotal: 3 });
    ch.issue(A);
    ch.issue(B);
    ch.issue("c".repeat(64));
    expect(() => ch.issue("d".repeat(64))).to.throw(ResourceExhaustedError);
    clock.advance(60_000);
    ch.issue("d".repeat(64));
    expect(ch.size).to.equal(1);
  });
});
