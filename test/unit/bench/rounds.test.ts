import { expect } from "chai";
import { formatGoals, type Row, spreadGoal } from "../../../bench/report";
import { median, pairOrder, RoundBook, spreadOf } from "../../../bench/rounds";

function row(id: string, baseline: string, cpu: number, opsPerS = 1000, p99Ms = 1): Row {
  return {
    id, workload: id, store: "1k", concurrency: 50, baseline, durationS: 2, ops: 2000, callsPerOp: 1, errors: 0, firstError: "",
    opsPerS, p50Ms: 0.5, p99Ms, serverCpuUsPerOp: cpu, serverCores: 0.5, storeCpuUsPerOp: Number.NaN, cpuRatio: Number.NaN, rateRatio: Number.NaN,
    clientCores: 1, clientProcesses: 2, serverPeakRssKb: 1000, outcomes: {},
  };
}

describe("bench rounds (medians of paired per-round ratios)", () => {
  it("takes the median of odd and even counts and leaves out failed (NaN) runs", () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([Number.NaN, 5, 7, 6])).to.equal(6);
    expect(Number.isNaN(median([]))).to.equal(true);
  });

  it("reports the spread as the larger distance of min or max from the median", () => {
    const s = spreadOf([1.0, 1.1, 1.3]);
    expect(s.median).to.equal(1.1);
    expect(s.min).to.equal(1.0);
    expect(s.max).to.equal(1.3);
    expect(s.spread).to.be.closeTo(0.2 / 1.1, 1e-9);
  });

  it("alternates which of a pair runs first, round by round", () => {
    expect(pairOrder(0, "echo", "daemon")).to.deep.equal(["echo", "daemon"]);
    expect(pairOrder(1, "echo", "daemon")).to.deep.equal(["daemon", "echo"]);
  });

  it("judges a daemon row on the median of its ratios to the baseline run beside it, not on the ratio of medians", () => {
    const book = new RoundBook();
    // The machine slows down round by round; each daemon run is 1.2× the echo run next to it.
    for (const [speed] of [[1], [2], [4]] as const) {
      const echo = row("echo/c50", "echo/c50", 50 * speed);
      const daemon = row("allowed/c50", "echo/c50", 60 * speed);
      book.add(echo);
      book.add(daemon);
      book.addPair(daemon, echo);
    }
    const rows = book.rows();
    const allowed = rows.find((r) => r.id === "allowed/c50")!;
    expect(allowed.rounds).to.equal(3);
    expect(allowed.serverCpuUsPerOp).to.equal(120);
    expect(allowed.cpuRatio).to.be.closeTo(1.2, 1e-9);
    expect(allowed.cpuRatioSpread!.spread).to.be.closeTo(0, 1e-9);
    expect(rows.find((r) => r.id === "echo/c50")!.cpuRatio).to.equal(1);
    expect(allowed.ops).to.equal(6000);
  });

  it("compares two rows round by round (the big store against the small one)", () => {
    const book = new RoundBook();
    for (const [small, big] of [[100, 110], [200, 230], [100, 300]] as const) {
      book.add(row("a@1k/c50", "echo", small));
      book.add(row("a@big/c50", "echo", big));
    }
    const s = book.crossRatio("a@big/c50", "a@1k/c50", (r) => r.serverCpuUsPerOp)!;
    expect(s.samples).to.deep.equal([1.1, 1.15, 3]);
    expect(s.median).to.equal(1.15);
    expect(book.crossRatio("missing", "a@1k/c50", (r) => r.p99Ms)).to.equal(undefined);
  });

  it("passes a goal only when the median meets it and the rounds agree within ±10%", () => {
    const tight = spreadGoal("cpu", spreadOf([1.1, 1.12, 1.15]), { max: 1.2 });
    expect(tight.pass).to.equal(true);
    const miss = spreadGoal("cpu", spreadOf([1.3, 1.32, 1.35]), { max: 1.2 });
    expect(miss.pass).to.equal(false);
    expect(miss.noisy).to.equal(undefined);
    const noisy = spreadGoal("cpu", spreadOf([0.9, 1.1, 1.6]), { max: 1.2 });
    expect(noisy.pass).to.equal(false);
    expect(noisy.noisy).to.equal(true);
    expect(formatGoals([tight, miss, noisy]).split("\n").map((l) => l.split(" ")[0])).to.deep.equal(["pass", "MISS", "NOISY"]);
    expect(spreadGoal("cpu", undefined, { max: 1.2 }).measured).to.equal("not measured");
  });
});
