import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { runCrashHarness } from "./crash-harness";

describe("crash harness: SIGKILL at random points of concurrent DM and node traffic (built daemon as a subprocess)", function () {
  this.timeout(240_000);

  before(function () {
    if (!existsSync(join(__dirname, "..", "..", "dist", "src", "cli", "main.js"))) throw new Error("run `make build` before the crash tests");
  });

  it("keeps every acknowledged approval, revocation, claim and rotation across 30 kills, with no broken invariant", async () => {
    const counts = await runCrashHarness({ kills: 30 });
    expect(counts.problems, JSON.stringify(counts)).to.deep.equal([]);
    expect(counts.kills).to.equal(30);
    expect(counts.lost).to.equal(0);
    expect(counts.partial).to.equal(0);
    expect(counts.acked, "enough acknowledged traffic to mean something").to.be.greaterThan(200);
    expect(counts.lostReplies, "some kills landed right after a claim or rotate commit").to.be.greaterThan(0);
  });
});
