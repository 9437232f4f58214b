import { expect } from "chai";
import { createLogger } from "../../../src/domain/logger";

describe("logger (text and JSON lines, live level)", () => {
  const capture = (): { lines: string[]; write: (l: string) => void } => {
    const lines: string[] = [];
    return { lines, write: (l) => lines.push(l) };
  };

  it("writes one JSON object per line with the child's fields", () => {
    const out = capture();
    createLogger({ write: out.write, now: () => 0 }).child({ component: "dm" }).info("sender added", { channel: "telegram", sender: "42" });
    expect(JSON.parse(out.lines[0] ?? "")).to.deep.equal({
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      msg: "sender added",
      component: "dm",
      channel: "telegram",
      sender: "42",
    });
  });

  it("writes text lines for people, quoting values with spaces and neutralizing control characters", () => {
    const out = capture();
    createLogger({ format: "text", write: out.write, now: () => 0 }).warn("queue\u001b[31m full", { channel: "slack", note: "a b", n: 3 });
    expect(out.lines).to.deep.equal(['1970-01-01T00:00:00.000Z WARN  queue\uFFFD[31m full channel=slack note="a b" n=3\n']);
  });

  it("changes the level of the root and its children at once", () => {
    const out = capture();
    const root = createLogger({ level: "warn", write: out.write });
    const child = root.child({ component: "x" });
    child.info("hidden");
    root.setLevel("debug");
    child.debug("shown");
    expect(root.level()).to.equal("debug");
    expect(out.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).to.deep.equal(["shown"]);
  });
});
