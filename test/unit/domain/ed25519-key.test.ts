import { expect } from "chai";
import nacl from "tweetnacl";
import { InvalidArgumentError } from "../../../src/domain/errors";
import { validatePublicKey } from "../../../src/domain/ed25519-key";

/** libsodium's blocklist of small-order encodings (ge25519_has_small_order), plus their sign-bit variants. */
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

describe("Ed25519 public key validation", () => {
  it("accepts ordinary keys", () => {
    for (let i = 0; i < 20; i++) expect(validatePublicKey(nacl.sign.keyPair().publicKey)).to.have.length(32);
  });

  it("rejects every small-order point with INVALID_ARGUMENT", () => {
    for (const hex of SMALL_ORDER) {
      expect(() => validatePublicKey(Buffer.from(hex, "hex")), hex).to.throw(InvalidArgumentError, /small-order/);
    }
  });

  it("rejects non-canonical encodings and non-points", () => {
    // p and p+1 (non-canonical y), and a y with no matching x.
    expect(() => validatePublicKey(Buffer.from("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "hex"))).to.throw(InvalidArgumentError);
    expect(() => validatePublicKey(Buffer.from("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "hex"))).to.throw(InvalidArgumentError);
    expect(() => validatePublicKey(Buffer.from("0200000000000000000000000000000000000000000000000000000000000000", "hex"))).to.throw(InvalidArgumentError);
  });

  it("rejects keys of the wrong length, naming the field", () => {
    for (const n of [0, 31, 33, 64]) {
      try {
        validatePublicKey(Buffer.alloc(n, 9));
        expect.fail("accepted");
      } catch (err) {
        expect(err).to.be.instanceOf(InvalidArgumentError);
        expect((err as InvalidArgumentError).field).to.equal("public_key");
      }
    }
  });
});
