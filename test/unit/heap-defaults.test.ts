import { expect } from "chai";
import { applyHeapDefaults, HEAP_GROWING_FLAG, HEAP_GROWING_PERCENT } from "../../src/heap-defaults";

describe("heap defaults of pairgate serve", () => {
  it("sets the old-generation growth step when the operator chose none", () => {
    expect(applyHeapDefaults([], "")).to.equal(`${HEAP_GROWING_FLAG}=${HEAP_GROWING_PERCENT}`);
  });

  it("leaves the flag alone when it is on the node command line or in NODE_OPTIONS, in either spelling", () => {
    expect(applyHeapDefaults(["--heap-growing-percent=50"], "")).to.equal(undefined);
    expect(applyHeapDefaults([], "--max-old-space-size=512 --heap_growing_percent=0")).to.equal(undefined);
  });
});
