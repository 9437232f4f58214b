import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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

/** Runs `body` in a fresh node process (its own isolate) with src/heap-defaults.ts loaded; returns stdout. */
function inFreshProcess(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "pg-heap-"));
  try {
    const file = join(dir, "probe.ts");
    writeFileSync(
      file,
      `import { capYoungGeneration } from ${JSON.stringify(resolve(__dirname, "../../src/heap-defaults"))};\n` +
        `import { getHeapSpaceStatistics } from "node:v8";\n` +
        `const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size;\n` +
        `void capYoungGeneration;\n${body}\n`,
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", file], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Allocates for ~1.5 s with survivors (like calls in flight) and prints the largest new space seen, MB. */
const CHURN = `
(async () => {
  let keep: object[] = [];
  let max = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    for (let i = 0; i < 2000; i++) { const o = { a: [i, i + 1], s: "x" + i }; if (i % 8 === 0) keep.push(o); }
    if (keep.length > 40000) keep = keep.slice(20000);
    max = Math.max(max, newSpace());
    await new Promise((r) => setImmediate(r)); // lets the GC observer run, as the daemon's event loop does
  }
  console.log(Math.round(max / 1048576));
})();`;

describe("young-generation cap of pairgate serve", () => {
  it("keeps the new space at the cap under an allocation churn that grows it past the cap without it", function () {
    this.timeout(60_000);
    const uncapped = Number(inFreshProcess(CHURN));
    const capped = Number(inFreshProcess(`capYoungGeneration([], 4);\n${CHURN}`));
    expect(uncapped).to.be.above(8);
    expect(capped).to.be.at.most(8); // one growth step past 4 MB at most, while the observer catches up
  });

  it("leaves the young generation alone when the operator sized it", () => {
    const out = inFreshProcess(`const stop = capYoungGeneration(["--max-semi-space-size=64"], 4);\nstop();\nconsole.log("ok");`);
    expect(out).to.equal("ok");
  });
});
