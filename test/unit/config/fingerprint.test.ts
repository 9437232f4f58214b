import { expect } from "chai";
import { configFingerprint } from "../../../src/config/fingerprint";
import { parseConfig } from "../../../src/config/load";

const fp = (value: unknown): string => configFingerprint(parseConfig(value).config);

describe("config fingerprint", () => {
  it("ignores what differs per daemon by design: sockets, log level, node listener, TLS files, names, storage", () => {
    const base = fp({ dm: { maxPending: 3 } });
    expect(fp({ dm: { maxPending: 3 }, socketPath: "/run/a.sock", logLevel: "debug", adapters: { socketPath: "/run/b.sock" } })).to.equal(base);
    expect(fp({ dm: { maxPending: 3 }, nodes: { listen: "10.0.0.2:18790", tlsNames: ["gw.example"] } })).to.equal(base);
    expect(fp({ dm: { maxPending: 3 }, storage: { kind: "postgres", url: "postgres://x@y/z", tenant: "t1" } })).to.equal(base);
    const files = (dir: string) => fp({ nodes: { tls: { cert: `${dir}/c.pem`, key: `${dir}/k.pem` } } });
    expect(files("/etc/a")).to.equal(files("/etc/b"));
  });

  it("changes with DM policies, limits and node settings, and not with the key order of the file", () => {
    const base = fp({});
    expect(fp({ dm: { maxPending: 5 } })).to.not.equal(base);
    expect(fp({ channels: { telegram: { dmPolicy: "allowlist" } } })).to.not.equal(base);
    expect(fp({ nodes: { limits: { rpcPerSecond: 50 } } })).to.not.equal(base);
    expect(fp({ nodes: { tls: "auto" } })).to.not.equal(base);
    expect(fp({ dm: { maxPending: 5, pendingTtlMs: 120_000 } })).to.equal(fp({ dm: { pendingTtlMs: 120_000, maxPending: 5 } }));
    expect(base).to.match(/^[0-9a-f]{64}$/);
  });
});
