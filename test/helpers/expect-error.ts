import { expect } from "chai";

/**
 * Awaits `promise`, asserts it rejects with an instance of `type`, and returns the error.
 * Fails the test if it resolves.
 */
export async function expectRejection<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  let resolved = false;
  try {
    await promise;
    resolved = true;
  } catch (err) {
    expect(err, `expected ${type.name}, got ${String(err)}`).to.be.instanceOf(type);
    return err as E;
  }
  expect(resolved, `expected rejection with ${type.name}, but it resolved`).to.equal(false);
  throw new Error("unreachable");
}
