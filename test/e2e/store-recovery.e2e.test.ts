import { expect } from "chai";
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bulkLoad } from "../../bench/bulk-load";
import { parseConfig } from "../../src/config/load";
import { startDaemon } from "../../src/daemon";
import { silentLogger } from "../../src/domain/logger";
import { put, scopeKey } from "../../src/domain/store";
import { LevelStore } from "../../src/storage/level-store";
import { tempDir } from "../helpers/temp-dir";
import { pairgate, serve } from "./cli";

const CONFIG = { nodes: { listen: "127.0.0.1:0" } };
const scope = scopeKey("telegram", "default");

/** Creates a store the way the daemon does (marker, identity), then adds `senders` allowed senders, one write each. */
async function seed(home: string, senders = 400): Promise<void> {
  const d = await startDaemon({ home, config: parseConfig(CONFIG), logger: silentLogger });
  await d.stop();
  const store = await LevelStore.open(join(home, "db"));
  for (let i = 0; i < senders; i++) {
    await store.write([put("dmAllow", scope + String(i), { approvedAtMs: i, via: "added", meta: { note: "x".repeat(60) } })], { sync: false });
  }
  await store.write([put("dmScopeStats", scope, { approvedCount: senders })], { sync: true });
  await store.close();
}

async function rawEntries(home: string): Promise<[string, string][]> {
  const store = await LevelStore.open(join(home, "db"), { createIfMissing: false });
  const out: [string, string][] = [];
  for await (const e of store.rawEntries()) out.push(e);
  await store.close();
  return out;
}

function flipByte(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0x5a;
  writeFileSync(path, b);
}

function newest(home: string, ext: string): string {
  const files = readdirSync(join(home, "db")).filter((f) => f.endsWith(ext) && statSync(join(home, "db", f)).size > 0).sort();
  expect(files, `a ${ext} file`).to.not.deep.equal([]);
  return join(home, "db", files[files.length - 1]!);
}

describe("damaged stores: the daemon refuses to start and the recovery commands (built CLI)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  let home: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dir = tempDir();
    home = join(dir.path, "h");
    env = { PAIRGATE_HOME: home };
    writeFileSync(join(dir.path, "config.json"), JSON.stringify(CONFIG));
  });
  afterEach(() => dir.cleanup());

  /** Runs `pairgate serve`; expects the documented refusal and returns stderr. */
  async function expectRefusal(pathInMessage: string, problem: RegExp): Promise<string> {
    const p = await serve(home, ["--config", join(dir.path, "config.json")]);
    const code = await p.exited;
    const err = p.stderr();
    expect(code, err).to.equal(1);
    expect(err).to.include(`the store at ${pathInMessage} is damaged`);
    expect(err).to.match(problem);
    for (const next of ["pairgate restore <file>", "pairgate db repair", "pairgate db reset --yes"]) expect(err).to.include(next);
    expect(err).to.not.include("unexpected error");
    expect(err).to.not.match(/\n\s+at /); // no stack trace
    return err;
  }

  async function expectServes(): Promise<void> {
    const p = await serve(home, ["--config", join(dir.path, "config.json")]);
    try {
      expect(p.stderr()).to.include("pairgate daemon listening on");
    } finally {
      p.child.kill("SIGTERM");
      await p.exited;
    }
  }

  it("refuses when CURRENT is deleted instead of starting empty", async () => {
    await seed(home);
    rmSync(join(home, "db", "CURRENT"));
    await expectRefusal(join(home, "db", "CURRENT"), /CURRENT is missing/);
  });

  it("refuses when db/ is deleted; db repair has nothing to repair; db reset needs --yes, then starts over knowingly", async () => {
    await seed(home);
    rmSync(join(home, "db"), { recursive: true });
    await expectRefusal(join(home, "db"), /database directory is missing/);
    const repair = await pairgate(["db", "repair"], env);
    expect(repair.code).to.equal(1);
    expect(repair.stderr).to.include("nothing to repair");
    const noYes = await pairgate(["db", "reset"], env);
    expect(noYes.code).to.equal(2);
    expect(noYes.stderr).to.include("pairgate db reset --yes");
    const reset = await pairgate(["db", "reset", "--yes"], env);
    expect(reset.code, reset.stderr).to.equal(0);
    await expectServes();
  });

  it("refuses a truncated MANIFEST with LevelDB's cause", async () => {
    await seed(home);
    const manifest = readdirSync(join(home, "db")).find((f) => f.startsWith("MANIFEST-"))!;
    truncateSync(join(home, "db", manifest), 10);
    await expectRefusal(join(home, "db"), /LevelDB refuses to open it: Corruption/);
  });

  it("refuses a write-ahead log LevelDB recovered by dropping records, keeps refusing, and db repair then verify bring it back", async () => {
    await seed(home);
    const log = newest(home, ".log");
    flipByte(log, Math.floor(statSync(log).size / 2));
    await expectRefusal(join(home, "db"), /dropped records while recovering its write-ahead log: .*checksum mismatch/);
    // The damage is recorded: a second start refuses too, although LevelDB's LOG has been rewritten.
    await expectRefusal(join(home, "db"), /dropped records/);
    const repair = await pairgate(["db", "repair"], env);
    expect(repair.code, repair.stderr).to.equal(0);
    expect(repair.stdout).to.include("Fixed 1 invariant problem(s)"); // the scope counter no longer matches the senders left
    const verify = await pairgate(["db", "verify", "--json"], env);
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0);
    expect(JSON.parse(verify.stdout)).to.include({ ok: true, source: "offline", problemCount: 0 });
    await expectServes();
  });

  it("refuses a table file with a flipped byte", async () => {
    await seed(home);
    // Reopening turns the log into a table file.
    await (await LevelStore.open(join(home, "db"))).close();
    const table = newest(home, ".ldb");
    flipByte(table, Math.floor(statSync(table).size / 3));
    await expectRefusal(join(home, "db"), /\.ldb: checksum mismatch in block/);
  });

  it("db verify finds a broken cross-index invariant (exit 1, --json) and db repair fixes it", async () => {
    await seed(home, 10);
    const store = await LevelStore.open(join(home, "db"));
    await store.write([put("dmCodes", scope + "ABCDEFGH", { senderId: "ghost" })], { sync: true });
    await store.close();
    const verify = await pairgate(["db", "verify"], env);
    expect(verify.code).to.equal(1);
    expect(verify.stdout).to.include("code index entry without its pending request");
    const json = JSON.parse((await pairgate(["db", "verify", "--json"], env)).stdout) as { ok: boolean; problemCount: number };
    expect(json).to.include({ ok: false, problemCount: 1 });
    expect((await pairgate(["db", "repair"], env)).code).to.equal(0);
    const again = await pairgate(["db", "verify"], env);
    expect(again.code, again.stdout).to.equal(0);
    expect(again.stdout).to.include("Store OK (offline): 10 allowed senders");
  });

  it("backs up 10,000 senders and 1,000 nodes from a running daemon, restores them after a wipe identical, and refuses bad restores", async function () {
    this.timeout(120_000);
    const loaded = await bulkLoad(home, 10_000, 1_000);
    const daemon = await startDaemon({ home, config: parseConfig(CONFIG), logger: silentLogger });
    const file = join(dir.path, "backup.pgb");
    const backup = await pairgate(["backup", file, "--json"], { ...env, PAIRGATE_SOCKET: daemon.socketPath });
    await daemon.stop();
    expect(backup.code, backup.stderr).to.equal(0);
    expect(JSON.parse(backup.stdout)).to.include({ source: "daemon" });
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const before = await rawEntries(home);
    expect(before.filter(([k]) => k.startsWith("!dm_allow!"))).to.have.length(10_000);
    expect(before.filter(([k]) => k.startsWith("!nodes!"))).to.have.length(1_000);

    const over = await pairgate(["restore", file], env);
    expect(over.code).to.equal(1);
    expect(over.stderr).to.include("already holds a store");

    rmSync(home, { recursive: true });
    const tampered = join(dir.path, "tampered.pgb");
    writeFileSync(tampered, readFileSync(file, "utf8").replace("bench node 7", "bench node 8"));
    const bad = await pairgate(["restore", tampered], env);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include("checksum mismatch");

    const restore = await pairgate(["restore", file], env);
    expect(restore.code, restore.stderr).to.equal(0);
    expect(await rawEntries(home)).to.deep.equal(before);
    const marker = JSON.parse(readFileSync(join(home, "store.json"), "utf8")) as { gatewayId: string };
    expect(marker.gatewayId).to.equal(loaded.gatewayId);
    const verify = await pairgate(["db", "verify"], env);
    expect(verify.code, verify.stdout).to.equal(0);
    const again = await startDaemon({ home, config: parseConfig(CONFIG), logger: silentLogger });
    expect(again.storeState().gatewayId).to.equal(loaded.gatewayId);
    await again.stop();
  });
});
