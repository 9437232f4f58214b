import { expect } from "chai";
import { join } from "node:path";
import { UnavailableError } from "../../src/domain/errors";
import { put, scopeKey } from "../../src/domain/store";
import { LevelStore } from "../../src/storage/level-store";
import { WriteFaults } from "../../src/storage/write-faults";
import { expectRejection } from "../helpers/expect-error";
import { tempDir } from "../helpers/temp-dir";

const scope = scopeKey("telegram", "default");
const allow = (i: number) => put("dmAllow", scope + String(i), { approvedAtMs: i, via: "added", meta: {} });

describe("LevelStore write fencing (fault seam over a real LevelDB)", () => {
  let dir: { path: string; cleanup: () => void };
  let location: string;
  beforeEach(() => {
    dir = tempDir();
    location = join(dir.path, "db");
  });
  afterEach(() => dir.cleanup());

  for (const code of ["ENOSPC", "EIO"] as const) {
    it(`refuses every write after a failed write (${code}) while reads keep working`, async () => {
      const faults = new WriteFaults();
      const store = await LevelStore.open(location, { faults });
      await store.write([allow(1)], { sync: true });
      faults.failNextWrites(1, code);
      await expectRejection(store.write([allow(2)], { sync: true }), UnavailableError);
      expect(store.status().writable).to.equal(false);
      expect(store.status().cause).to.include(code === "ENOSPC" ? "No space left on device" : "Input/output error");
      // The fault is gone, yet the store stays fenced: a later write could land after a torn record.
      const err = await expectRejection(store.write([allow(3)], { sync: true }), UnavailableError);
      expect(err.message).to.include("read-only after a failed write");
      expect(store.collection("dmAllow").getSync(scope + "1")).to.deep.include({ approvedAtMs: 1 });
      await store.close();
    });
  }

  it("tells listeners once when it becomes fenced", async () => {
    const faults = new WriteFaults();
    const store = await LevelStore.open(location, { faults, now: () => 42 });
    const seen: unknown[] = [];
    store.onStatusChange((s) => seen.push(s));
    faults.failNextWrites(2);
    await expectRejection(store.write([allow(1)], { sync: true }), UnavailableError);
    await expectRejection(store.write([allow(2)], { sync: true }), UnavailableError);
    expect(seen).to.have.length(1);
    expect(seen[0]).to.deep.include({ writable: false, fencedAtMs: 42 });
    await store.close();
  });

  it("keeps every acknowledged write of a concurrent burst across a failure and a reopen", async () => {
    const faults = new WriteFaults();
    const store = await LevelStore.open(location, { faults });
    const acknowledged: number[] = [];
    const burst = Array.from({ length: 40 }, (_, i) => {
      if (i === 20) faults.failNextWrites(1, "EIO");
      return store.write([allow(i)], { sync: i % 2 === 0 }).then(() => acknowledged.push(i), () => undefined);
    });
    // The fault is armed while writes 0..19 are queued: the first write to reach the disk after that fails.
    await Promise.all(burst);
    expect(acknowledged.length).to.be.lessThan(40);
    await store.close();

    const reopened = await LevelStore.open(location);
    expect(reopened.status().writable).to.equal(true);
    await reopened.write([allow(100)], { sync: true });
    for (const i of [...acknowledged, 100]) expect(reopened.collection("dmAllow").getSync(scope + String(i)), `write ${i}`).to.not.equal(undefined);
    await reopened.close();
  });
});
