import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "../../src/domain/errors";
import { put, scopeKey } from "../../src/domain/store";
import { openStateStore } from "../../src/storage/state-store";

/**
 * A real full disk: the state dir on a 3 MiB tmpfs. Needs root and permission to mount; without
 * them this suite prints why and registers no test.
 */
const mountPoint = mkdtempSync(join(tmpdir(), "pg-tmpfs-"));
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", mountPoint], { encoding: "utf8" });

if (mounted.status !== 0) {
  rmSync(mountPoint, { recursive: true, force: true });
  console.error(
    "\n*** disk-full test NOT RUN: cannot mount a tmpfs here (" +
      (mounted.stderr || mounted.error?.message || "mount failed").trim() +
      "). Run the tests as root with mount permitted (e.g. a CI VM, or a container with CAP_SYS_ADMIN) to run it. ***\n",
  );
} else {
  describe("a real full disk (3 MiB tmpfs)", function () {
    this.timeout(60_000);
    after(() => {
      spawnSync("umount", [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    });

    it("fences on ENOSPC, stays fenced after space returns, and loses nothing acknowledged across restarts", async () => {
      const home = join(mountPoint, "home");
      const scope = scopeKey("telegram", "default");
      const filler = join(mountPoint, "filler");
      writeFileSync(filler, Buffer.alloc(1024 * 1024, 1));
      const meta = { note: "x".repeat(4000) };
      const acknowledged: string[] = [];

      let { store } = await openStateStore(home);
      let failure: unknown;
      for (let i = 0; i < 10_000 && failure === undefined; i++) {
        try {
          await store.write([put("dmAllow", scope + `a${i}`, { approvedAtMs: i, via: "added", meta })], { sync: true });
          acknowledged.push(`a${i}`);
        } catch (err) {
          failure = err;
        }
      }
      expect(failure).to.be.instanceOf(UnavailableError);
      expect(store.status()).to.deep.include({ writable: false });
      expect(store.status().cause).to.match(/No space left on device|ENOSPC/);

      rmSync(filler); // space comes back
      let refused: unknown;
      await store.write([put("dmAllow", scope + "after-free", { approvedAtMs: 1, via: "added", meta: {} })], { sync: true }).catch((e: unknown) => (refused = e));
      expect(refused, "a write after the failure must be refused, not acknowledged").to.be.instanceOf(UnavailableError);
      await store.close();

      // Restart: a new log, writes work again; the torn record is not reported as corruption.
      ({ store } = await openStateStore(home));
      expect(store.status().writable).to.equal(true);
      for (let i = 0; i < 20; i++) {
        await store.write([put("dmAllow", scope + `b${i}`, { approvedAtMs: i, via: "added", meta: {} })], { sync: true });
        acknowledged.push(`b${i}`);
      }
      await store.close();

      ({ store } = await openStateStore(home));
      const missing = acknowledged.filter((k) => store.collection("dmAllow").getSync(scope + k) === undefined);
      expect(missing, "acknowledged writes lost").to.deep.equal([]);
      expect(store.collection("dmAllow").getSync(scope + "after-free")).to.equal(undefined);
      await store.close();
    });
  });
}
