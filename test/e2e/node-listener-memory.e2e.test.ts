import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { RawPeer } from "../helpers/raw-peer";
import { freePort } from "../helpers/free-port";
import { tempDir } from "../helpers/temp-dir";
import { serve, type ServeProcess } from "./cli";

/** Resident set size of `pid` in MiB (VmRSS). */
function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}


/** Opens `n` HTTP/2 connections that never call anything, 50 per loopback address from `base`.x. */
async function idleConnections(address: string, base: string, n: number): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) => RawPeer.connect(address, `${base}.${1 + Math.floor((i + j) / 50)}`));
    peers.push(...(await Promise.all(batch)));
  }
  return peers;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("node listener memory (built daemon as a subprocess)", () => {
  let daemon: ServeProcess | undefined;
  const dir = tempDir();
  after(async () => {
    daemon?.child.kill("SIGTERM");
    await daemon?.exited;
    dir.cleanup();
  });

  it("closes 2,000 idle connections at the first-RPC deadline and returns to its baseline memory (±20%)", async function () {
    this.timeout(300_000); // three bursts of 2,000 connections
    const port = await freePort();
    const config = join(dir.path, "config.json");
    writeFileSync(config, JSON.stringify({ nodes: { listen: `127.0.0.1:${port}`, limits: { firstRpcDeadlineMs: 2000 } } }));
    daemon = await serve(join(dir.path, "home"), ["--config", config]);
    const pid = daemon.child.pid!;
    const address = `127.0.0.1:${port}`;
    // Warm up with two bursts of the same size, closed by the same deadline: the first bursts grow
    // V8's young generation and glibc's heap, which keep those pages for reuse (heapUsed returns to
    // its baseline; see README "Node listener limits"). Memory the connections themselves retained
    // would make every later burst grow RSS again.
    for (const base of ["127.0.10", "127.0.12"]) {
      const warm = await idleConnections(address, base, 2000);
      await Promise.all(warm.map((p) => p.whenClosed()));
    }
    await sleep(1500);
    const baseline = rssMiB(pid);

    const opened = Date.now();
    const peers = await idleConnections(address, "127.0.11", 2000);
    const peak = rssMiB(pid);
    await Promise.all(peers.map((p) => p.whenClosed()));
    const closedAfter = Date.now() - opened;
    await sleep(2000);
    const after = rssMiB(pid);
    console.log(
      `      RSS baseline ${baseline.toFixed(1)} MiB, with 2,000 idle connections ${peak.toFixed(1)} MiB, ` +
        `after they were closed (${closedAfter} ms) ${after.toFixed(1)} MiB`,
    );
    expect(closedAfter, "every idle connection closed by the server").to.be.lessThan(2000 + 10_000);
    expect(after).to.be.at.most(baseline * 1.2);
  });
});
