import { expect } from "chai";
import { run } from "../../../bench/load-loop";

/** An operation that completes after `ms`, counting how many run at once. */
function delayedOp(ms: number): { op: () => Promise<string>; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  return {
    op: async () => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return "ok";
    },
    maxInFlight: () => max,
  };
}

describe("bench load loop (closed loop and paced)", () => {
  it("paces operations at the requested rate instead of as fast as they complete", async () => {
    const { op } = delayedOp(1);
    const paced = await run(op, 10, 600, 100);
    // 100/s for 0.6 s is 60 operations; a closed loop of 10 with 1 ms calls would do thousands.
    expect(paced.ops).to.be.within(50, 62);
    expect(paced.outcomes).to.deep.equal({ ok: paced.ops });
  });

  it("never has more than `concurrency` operations in flight, paced or not", async () => {
    const slow = delayedOp(50);
    // 1,000/s asks for ~50 in flight with 50 ms calls; the cap of 4 must hold, so the run falls behind.
    const paced = await run(slow.op, 4, 400, 1000);
    expect(slow.maxInFlight()).to.equal(4);
    expect(paced.ops).to.be.below(4 * (400 / 50) + 5);
    const closed = delayedOp(5);
    const r = await run(closed.op, 3, 200);
    expect(closed.maxInFlight()).to.equal(3);
    expect(r.ops).to.be.above(3 * 10);
  });
});
