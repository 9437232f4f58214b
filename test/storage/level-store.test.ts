import { expect } from "chai";
import { join } from "node:path";
import { Level } from "level";
import { UnavailableError } from "../../src/domain/errors";
import { del, put, scopeKey, prefixEnd } from "../../src/domain/store";
import { LevelStore, SchemaVersionError, StoreLockedError } from "../../src/storage/level-store";
import { SCHEMA_VERSION } from "../../src/storage/keys";
import { expectRejection } from "../helpers/expect-error";
import { tempDir } from "../helpers/temp-dir";

describe("LevelStore on a real LevelDB", () => {
  let dir: { path: string; cleanup: () => void };
  let location: string;
  beforeEach(() => {
    dir = tempDir();
    location = join(dir.path, "db");
  });
  afterEach(() => dir.cleanup());

  it("writes the schema version on first open and keeps data across reopen", async () => {
    const a = await LevelStore.open(location);
    expect(await a.meta().get("schema_version")).to.equal(SCHEMA_VERSION);
    await a.write([put("dmAllow", scopeKey("telegram", "default") + "1", { approvedAtMs: 5, via: "added", meta: {} })], { sync: true });
    await a.close();
    const b = await LevelStore.open(location);
    expect(b.collection("dmAllow").getSync(scopeKey("telegram", "default") + "1")).to.deep.equal({ approvedAtMs: 5, via: "added", meta: {} });
    await b.close();
  });

  it("refuses a second opener of the same directory with StoreLockedError", async () => {
    const a = await LevelStore.open(location);
    try {
      const err = await expectRejection(LevelStore.open(location), StoreLockedError);
      expect(err.message).to.equal(`another pairgate daemon is using ${location}`);
    } finally {
      await a.close();
    }
  });

  it("refuses a database written by another schema version", async () => {
    const raw = new Level<string, unknown>(location, { valueEncoding: "json" });
    await raw.sublevel<string, unknown>("meta", { valueEncoding: "json" }).put("schema_version", 99);
    await raw.close();
    await expectRejection(LevelStore.open(location), SchemaVersionError);
  });

  it("applies a batch across collections atomically", async () => {
    const s = await LevelStore.open(location);
    const k = scopeKey("slack", "default");
    await s.write([put("dmCodes", k + "ABCDEFGH", { senderId: "U1" }), put("dmAllow", k + "U2", { approvedAtMs: 1, via: "added", meta: {} })], { sync: false });
    await s.write([del("dmCodes", k + "ABCDEFGH"), put("dmScopeStats", k, { approvedCount: 1 })], { sync: true });
    expect(await s.collection("dmCodes").get(k + "ABCDEFGH")).to.equal(undefined);
    expect(await s.collection("dmScopeStats").get(k)).to.deep.equal({ approvedCount: 1 });
    await s.close();
  });

  it("iterates one scope's range in key order without touching neighbours", async () => {
    const s = await LevelStore.open(location);
    const a = scopeKey("telegram", "a");
    const ab = scopeKey("telegram", "ab");
    const meta = { approvedAtMs: 1, via: "added" as const, meta: {} };
    await s.write([put("dmAllow", a + "2", meta), put("dmAllow", a + "1", meta), put("dmAllow", ab + "0", meta)], { sync: false });
    const keys: string[] = [];
    for await (const [key] of s.collection("dmAllow").entries({ gte: a, lt: prefixEnd(a) })) keys.push(key);
    expect(keys).to.deep.equal([a + "1", a + "2"]);
    await s.close();
  });

  it("fails reads and writes with UnavailableError after close", async () => {
    const s = await LevelStore.open(location);
    await s.close();
    await expectRejection(s.write([del("dmAllow", "x")], { sync: true }), UnavailableError);
    await expectRejection(s.collection("dmAllow").get("x"), UnavailableError);
  });
});
