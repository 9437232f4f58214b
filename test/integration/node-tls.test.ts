import { createHash, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { Server } from "@grpc/grpc-js";
import type * as X509Types from "@peculiar/x509";
import { expect } from "chai";
import { fetchPinnedCertificate, NodeGatewayClient, spkiPinOf, TlsPinMismatchError, UnavailableError } from "../../clients/ts";
import { silentLogger } from "../../src/domain/logger";
import { AutoNodeTls, certificateHosts } from "../../src/transport/grpc/node-tls";
import { describeCertificate, issueLeafCertificate, newCertificateKey } from "../../src/transport/grpc/self-signed-cert";
import { startTestDaemon } from "../helpers/test-daemon";
import { tempDir } from "../helpers/temp-dir";

const DAY = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

/** A CA certificate like the one pairgate ≤ 0.1 made (CA:TRUE, 10 years) with the given key. */
async function oldCaCertificate(keyPem: string): Promise<string> {
  // The old generator is gone; a CA certificate with the same key is what matters. @peculiar/x509 is
  // loaded by issueLeafCertificate already.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const x509 = require("@peculiar/x509") as typeof X509Types;
  const { createPrivateKey, createPublicKey, webcrypto } = await import("node:crypto");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const key = createPrivateKey(keyPem);
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", createPublicKey(key).export({ type: "spki", format: "der" }), alg, true, ["verify"]),
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=pairgate node gateway",
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 3650 * DAY),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return cert.toString("pem");
}

describe("node listener TLS (auto certificate)", () => {
  it("is a leaf: CA:FALSE, serverAuth only, digitalSignature, valid at most 397 days, naming the listen address and nodes.tlsNames", async () => {
    await issueLeafCertificate(newCertificateKey(), ["localhost"]); // loads the library for oldCaCertificate
    const t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", tls: "auto", tlsNames: ["gateway.local", "10.9.8.7"] } } });
    try {
      const cert = new X509Certificate(readFileSync(join(t.home, "node-tls", "cert.pem")));
      expect(cert.ca).to.equal(false);
      expect(cert.keyUsage).to.deep.equal([SERVER_AUTH]);
      expect(Date.parse(cert.validTo) - Date.parse(cert.validFrom)).to.be.at.most(397 * DAY + 60_000);
      const san = cert.subjectAltName ?? "";
      for (const name of ["DNS:localhost", "DNS:gateway.local", "IP Address:127.0.0.1", "IP Address:10.9.8.7"]) expect(san).to.contain(name);
      expect(cert.checkIP("127.0.0.1")).to.equal("127.0.0.1");
      expect(cert.checkHost("gateway.local")).to.equal("gateway.local");
      // keyUsage digitalSignature (critical) and nothing that signs certificates.
      expect(cert.toLegacyObject().ext_key_usage).to.deep.equal([SERVER_AUTH]);
      expect(cert.checkIssued(cert)).to.equal(false); // not usable as an issuer, not even of itself
    } finally {
      await t.stop();
    }
  });

  it("names every interface address when listening on 0.0.0.0", () => {
    const hosts = certificateHosts("0.0.0.0", ["pg.example"]);
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) expect(hosts).to.include(a.address.replace(/%.*$/, ""));
    expect(hosts).to.include.members(["localhost", "127.0.0.1", "::1", "pg.example"]);
    expect(hosts).to.not.include("0.0.0.0");
  });

  it("renews a certificate within 30 days of expiry with the same key, so the SPKI pin survives, and the running listener serves the new one", async () => {
    const dir = tempDir();
    try {
      let now = Date.now();
      const tls = await AutoNodeTls.start({ dir: dir.path, hosts: () => ["localhost", "127.0.0.1"], log: silentLogger, now: () => now });
      const first = tls.current();
      const server = new Server();
      const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", tls.credentials, (e, p) => (e ? rej(e) : res(p))));
      const presented = async (): Promise<Buffer> =>
        createHash("sha256").update(new X509Certificate(await fetchPinnedCertificate(`127.0.0.1:${port}`, spkiPinOf(first.certificatePem))).raw).digest();
      expect(await presented()).to.deep.equal(first.certificateSha256);
      await tls.check();
      expect(tls.current().certificateSha256).to.deep.equal(first.certificateSha256); // nothing to do yet
      now += 370 * DAY; // 27 days left
      await tls.check();
      const second = tls.current();
      tls.close();
      expect(await presented()).to.deep.equal(second.certificateSha256); // no restart needed
      server.forceShutdown();
      expect(second.certificateSha256).to.not.deep.equal(first.certificateSha256);
      expect(second.spkiSha256).to.deep.equal(first.spkiSha256);
      expect(second.notAfterMs).to.be.greaterThan(first.notAfterMs);
      expect(describeCertificate(readFileSync(join(dir.path, "cert.pem"))).certificateSha256).to.deep.equal(second.certificateSha256);
    } finally {
      dir.cleanup();
    }
  });

  it("replaces an older pairgate's CA certificate at start, keeping its key (and pin)", async () => {
    const dir = tempDir();
    try {
      const tlsDir = join(dir.path, "node-tls");
      mkdirSync(tlsDir, { recursive: true });
      const key = newCertificateKey();
      const old = await oldCaCertificate(key);
      expect(new X509Certificate(old).ca).to.equal(true);
      writeFileSync(join(tlsDir, "key.pem"), key, { mode: 0o600 });
      writeFileSync(join(tlsDir, "cert.pem"), old);
      const t = await startTestDaemon({ home: dir.path, config: { nodes: { listen: "127.0.0.1:0", tls: "auto" } } });
      try {
        const now = readFileSync(join(tlsDir, "cert.pem"), "utf8");
        expect(new X509Certificate(now).ca).to.equal(false);
        expect(spkiPinOf(now)).to.equal(spkiPinOf(old));
        expect(readFileSync(join(tlsDir, "key.pem"), "utf8")).to.equal(key);
      } finally {
        await t.stop();
      }
    } finally {
      dir.cleanup();
    }
  });

  it("lets a client with host-name checks on connect to 127.0.0.1 with the certificate as its root, and pins by SPKI", async () => {
    const t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", tls: "auto" } } });
    try {
      const certPem = readFileSync(join(t.home, "node-tls", "cert.pem"));
      const pin = spkiPinOf(certPem);
      const tlsInfo = await t.client.nodeAdmin.getNodeTls();
      expect(`sha256/${Buffer.from(tlsInfo.spkiSha256).toString("base64")}`).to.equal(pin);
      expect(tlsInfo.ipAddresses).to.include("127.0.0.1");

      // Root = the certificate, host-name verification on (127.0.0.1 is in its SANs).
      const rooted = new NodeGatewayClient({ address: t.daemon.nodeAddress, tlsCa: certPem });
      expect((await rooted.getGatewayInfo()).gatewayId).to.match(/^[0-9a-f]{64}$/);
      rooted.close();

      // Host-name checks are really on: "localhost" is named, but a name the certificate lacks fails.
      const port = t.daemon.nodeAddress.split(":").pop()!;
      const wrongHost = new NodeGatewayClient({ address: `localhost:${port}`, tlsCa: certPem, deadlineMs: 3000 });
      expect((await wrongHost.getGatewayInfo()).gatewayId).to.have.length(64);
      wrongHost.close();

      // The right pin connects; another key's pin is refused before anything is sent.
      const pinned = await NodeGatewayClient.connectPinned({ address: t.daemon.nodeAddress, tlsPin: pin });
      expect((await pinned.getGatewayInfo()).gatewayId).to.have.length(64);
      pinned.close();
      const otherPin = spkiPinOf(await issueLeafCertificate(newCertificateKey(), ["localhost"]));
      const err = await NodeGatewayClient.connectPinned({ address: t.daemon.nodeAddress, tlsPin: otherPin }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(TlsPinMismatchError);

      // A pinned root with the wrong pin on the real connection: refused by checkServerIdentity.
      const mismatched = new NodeGatewayClient({ address: t.daemon.nodeAddress, tlsCa: certPem, tlsPin: otherPin, deadlineMs: 3000 });
      const refused = await mismatched.getGatewayInfo().then(() => undefined, (e: unknown) => e);
      mismatched.close();
      expect(refused).to.be.instanceOf(UnavailableError);
    } finally {
      await t.stop();
    }
  });

  it("refuses a certificate that does not name the dialled address, with host-name checks on", async () => {
    const key = newCertificateKey();
    const dir = tempDir();
    try {
      const certPath = join(dir.path, "c.pem");
      const keyPath = join(dir.path, "k.pem");
      writeFileSync(certPath, await issueLeafCertificate(key, ["gateway.local"]));
      writeFileSync(keyPath, key);
      const t = await startTestDaemon({ config: { nodes: { listen: "127.0.0.1:0", tls: { cert: certPath, key: keyPath } } } });
      try {
        const client = new NodeGatewayClient({ address: t.daemon.nodeAddress, tlsCa: readFileSync(certPath), deadlineMs: 3000 });
        const err = await client.getGatewayInfo().then(() => undefined, (e: unknown) => e);
        client.close();
        expect(err).to.be.instanceOf(UnavailableError);
        expect((await t.client.nodeAdmin.getNodeTls()).auto).to.equal(false);
      } finally {
        await t.stop();
      }
    } finally {
      dir.cleanup();
    }
  });
});
