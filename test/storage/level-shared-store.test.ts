import { expect } from "chai";
import { join } from "node:path";
import { UnavailableError } from "../../src/domain/errors";
import type { FeedEvent } from "../../src/domain/shared-store";
import { LevelSharedStore } from "../../src/storage/level-shared-store";
import { LevelStore } from "../../src/storage/level-store";
import { WriteFaults } from "../../src/storage/write-faults";
import { expectRejection } from "../helpers/expect-error";
import { tempDir } from "../helpers/temp-dir";

describe("LevelSharedStore over a real LevelDB", () => {
  it("commits through LevelStore's fence: after a failed write every transaction is refused and no event is published", async () => {
    const dir = tempDir();
    const faults = new WriteFaults();
    const level = await LevelStore.open(join(dir.path, "db"), { faults });
    const store = await LevelSharedStore.over(level);
    try {
      const seen: FeedEvent[] = [];
      const sub = store.subscribe("t", (e) => seen.push(e));
      await store.transact("k", async (tx) => {
        tx.put("meta", "a", 1);
        tx.publish("t", { n: 1 });
      });
      faults.failNextWrites(1, "ENOSPC");
      await expectRejection(store.transact("k", async (tx) => (tx.put("meta", "b", 2), tx.publish("t", { n: 2 }))), UnavailableError);
      const err = await expectRejection(store.transact("k", async (tx) => tx.put("meta", "c", 3)), UnavailableError);
      expect(err.message).to.include("read-only after a failed write");
      expect(level.status().writable).to.equal(false);
      expect(await store.get("meta", "a")).to.equal(1);
      expect(await store.get("meta", "b")).to.equal(undefined);
      expect(seen.map((e) => e.event)).to.deep.equal([{ n: 1 }]);
      sub.close();
    } finally {
      await store.close();
      await level.close();
      dir.cleanup();
    }
  });

  it("keeps the records and their expiry across a reopen", async () => {
    const dir = tempDir();
    try {
      const a = await LevelSharedStore.open(join(dir.path, "db"));
      await a.transact("k", async (tx) => tx.put("meta", "nonce", { n: 1 }, { expiresAtMs: 500 }));
      await a.close();
      const b = await LevelSharedStore.open(join(dir.path, "db"));
      expect(await b.getRecord("meta", "nonce")).to.deep.equal({ value: { n: 1 }, expiresAtMs: 500 });
      expect((await b.sweep("meta", 500, 10)).map(([k]) => k)).to.deep.equal(["nonce"]);
      await b.close();
    } finally {
      dir.cleanup();
    }
  });
});
