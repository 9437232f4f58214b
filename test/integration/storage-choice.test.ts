import { expect } from "chai";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/load";
import { resolveStorage, STORAGE_URL_ENV } from "../../src/config/storage";
import { DaemonStartError, startDaemon } from "../../src/daemon";
import { silentLogger } from "../../src/domain/logger";
import { expectRejection } from "../helpers/expect-error";
import { tempDir } from "../helpers/temp-dir";
import { startTestDaemon } from "../helpers/test-daemon";

const SECRET_URL = "postgres://pairgate:s3cret-pw@db.example:5432/pairgate";

/** Runs `fn` with PAIRGATE_STORAGE_URL set to `value` (or unset), restoring it afterwards. */
async function withStorageEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env[STORAGE_URL_ENV];
  if (value === undefined) delete process.env[STORAGE_URL_ENV];
  else process.env[STORAGE_URL_ENV] = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[STORAGE_URL_ENV];
    else process.env[STORAGE_URL_ENV] = saved;
  }
}

describe("storage config", () => {
  it("defaults to the embedded LevelDB store and validates the postgres block strictly", () => {
    expect(parseConfig({}).config.storage).to.deep.equal({ kind: "level" });
    expect(parseConfig({ storage: { kind: "postgres", url: SECRET_URL, tenant: "gw-1" } }).config.storage.kind).to.equal("postgres");
    expect(() => parseConfig({ storage: { kind: "etcd" } })).to.throw(ConfigError, /storage\.kind/);
    expect(() => parseConfig({ storage: { kind: "level", url: SECRET_URL } })).to.throw(ConfigError, /storage: Unrecognized key: "url"/);
    expect(() => parseConfig({ storage: { kind: "postgres", url: "mysql://x" } })).to.throw(ConfigError, /storage\.url: must start with "postgres:\/\/"/);
    expect(() => parseConfig({ storage: { kind: "postgres", tenant: "Bad Tenant" } })).to.throw(ConfigError, /storage\.tenant/);
  });

  it("lets PAIRGATE_STORAGE_URL win over the file and requires a URL from one of them", () => {
    const file = parseConfig({ storage: { kind: "postgres", url: "postgres://file/db", tenant: "t1" } }).config.storage;
    expect(resolveStorage(file, { [STORAGE_URL_ENV]: SECRET_URL }, "f.json")).to.deep.equal({ kind: "postgres", url: SECRET_URL, tenant: "t1", urlFrom: "env" });
    expect(resolveStorage(file, {}, "f.json")).to.deep.equal({ kind: "postgres", url: "postgres://file/db", tenant: "t1", urlFrom: "config" });
    expect(resolveStorage({ kind: "level" }, { [STORAGE_URL_ENV]: SECRET_URL }, "f.json").kind).to.equal("postgres");
    expect(resolveStorage({ kind: "level" }, { [STORAGE_URL_ENV]: "" }, "f.json")).to.deep.equal({ kind: "level" });
    expect(() => resolveStorage({ kind: "postgres" }, {}, "f.json")).to.throw(ConfigError, /storage\.url: required for kind "postgres" \(or set PAIRGATE_STORAGE_URL\)/);
    expect(() => resolveStorage({ kind: "level" }, { [STORAGE_URL_ENV]: "redis://x" }, "f.json")).to.throw(ConfigError, /PAIRGATE_STORAGE_URL must start with/);
  });

  it("refuses to start when the PostgreSQL of the config cannot be reached, with a message that masks the password and never creates a LevelDB store", async () => {
    const dir = tempDir();
    try {
      const err = await withStorageEnv(undefined, () =>
        expectRejection(
          startDaemon({ home: dir.path, config: parseConfig({ storage: { kind: "postgres", url: SECRET_URL } }, "pg.json"), logger: silentLogger }),
          DaemonStartError,
        ),
      );
      expect(err.message).to.include("cannot open the PostgreSQL store");
      expect(err.message).to.include("(from storage.url in pg.json)");
      expect(err.message).to.include(":***@");
      expect(err.message).to.not.include("s3cret");
      expect(existsSync(join(dir.path, "db"))).to.equal(false);
    } finally {
      dir.cleanup();
    }
  });

  it("uses PAIRGATE_STORAGE_URL over the file, naming the variable when it cannot connect, and starts on LevelDB without it", async () => {
    const dir = tempDir();
    try {
      const err = await withStorageEnv(SECRET_URL, () =>
        expectRejection(startDaemon({ home: dir.path, config: parseConfig({}), logger: silentLogger }), DaemonStartError),
      );
      expect(err.message).to.include("(from PAIRGATE_STORAGE_URL)");
      expect(err.message).to.include("check that the server runs");
      expect(err.message).to.not.include("s3cret");
      expect(existsSync(join(dir.path, "db")), "no embedded store is created instead").to.equal(false);
    } finally {
      dir.cleanup();
    }
    const d = await withStorageEnv(undefined, () => startTestDaemon({ config: { storage: { kind: "level" } } }));
    try {
      expect((await d.client.dmPairing.listChannels()).channels.length).to.be.greaterThan(0);
    } finally {
      await d.stop();
    }
  });
});
