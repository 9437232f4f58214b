import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { tempDir } from "../helpers/temp-dir";
import { CLI, serve, type ServeProcess, stopServe } from "./cli";

/** Modules only `serve`/`init` may load: the daemon, its storage, reflection, zod and proto-loader. */
const SERVE_ONLY = [/node_modules\/(level|classic-level|abstract-level)\//, /node_modules\/@grpc\/(reflection|proto-loader)\//, /node_modules\/zod\//, /node_modules\/grpc-health-check\//, /dist\/src\/(daemon|domain|storage|transport|config)\b/];

/** The QR code library: only `nodes invite` may load it. */
const QR = /node_modules\/(qrcode|pngjs)\//;

/**
 * Runs the built CLI with a preload script that records every module in require.cache at exit, and
 * returns those paths relative to the repo.
 */
function loadedModules(dir: string, args: string[], env: Record<string, string>): Promise<string[]> {
  const out = join(dir, `modules-${Date.now()}-${Math.random()}.json`);
  const preload = join(dir, "record-modules.cjs");
  writeFileSync(preload, `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))));\n`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--require", preload, CLI, ...args], { env: { ...process.env, ...env } }, () => {
      try {
        const root = join(__dirname, "..", "..");
        resolve((JSON.parse(readFileSync(out, "utf8")) as string[]).map((p) => relative(root, p)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

describe("CLI start-up loads only what the command needs (built CLI, require.cache at exit)", function () {
  this.timeout(30_000);
  let dir: { path: string; cleanup: () => void };
  let daemon: ServeProcess | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    await stopServe(daemon);
    daemon = undefined;
    dir.cleanup();
  });

  it("--version, --help, completion and service --print load neither grpc-js nor any daemon module", async () => {
    for (const args of [["--version"], ["--help"], ["completion", "bash"], ["service", "install", "--print", "--platform", "linux"]]) {
      const mods = await loadedModules(dir.path, args, { PAIRGATE_HOME: dir.path });
      expect(mods.some((m) => m.includes("dist/src/cli/main.js")), args.join(" ")).to.equal(true);
      expect(mods.filter((m) => m.includes("@grpc/") || m.includes("cli-table3") || QR.test(m) || SERVE_ONLY.some((re) => re.test(m))), args.join(" ")).to.deep.equal([]);
    }
  });

  it("pairing list against a running daemon loads the client but no serve-only module", async () => {
    daemon = await serve(dir.path);
    const mods = await loadedModules(dir.path, ["pairing", "list", "telegram"], { PAIRGATE_HOME: dir.path });
    expect(mods.some((m) => m.includes("node_modules/@grpc/grpc-js/"))).to.equal(true);
    expect(mods.filter((m) => QR.test(m) || SERVE_ONLY.some((re) => re.test(m)))).to.deep.equal([]);
    // Only the invite command loads the QR library (so the check above can fail).
    const invite = await loadedModules(dir.path, ["nodes", "invite", "--qr"], { PAIRGATE_HOME: dir.path });
    expect(invite.some((m) => QR.test(m))).to.equal(true);
    expect(invite.filter((m) => SERVE_ONLY.some((re) => re.test(m)))).to.deep.equal([]);
  });

  it("serve does load the daemon (so the check above can fail)", async () => {
    // serve runs until stopped and the recorder writes at exit: a config that fails fast ends it.
    writeFileSync(join(dir.path, "bad.json"), '{ "dm": { "maxPending": 0 } }');
    const failing = await loadedModules(dir.path, ["serve", "--config", join(dir.path, "bad.json")], { PAIRGATE_HOME: dir.path });
    expect(failing.some((m) => /dist\/src\/config\/load\.js$/.test(m))).to.equal(true);
    expect(failing.some((m) => /dist\/src\/daemon\.js$/.test(m))).to.equal(true);
  });
});
