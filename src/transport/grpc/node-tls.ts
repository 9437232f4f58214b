import { readFile, rename, writeFile, mkdir } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { experimental, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "../../domain/logger";
import {
  type CertificateInfo,
  describeCertificate,
  isUsableCertificateKey,
  issueLeafCertificate,
  newCertificateKey,
  renewalReason,
} from "./self-signed-cert";

/** How often the auto certificate is checked for renewal (expiry, changed interface addresses). */
export const TLS_CHECK_INTERVAL_MS = 3_600_000;

/** The node listener's TLS as the daemon holds it. */
export interface NodeTls {
  /** Credentials for the node server (hot-reloaded on renewal for "auto"). */
  readonly credentials: ServerCredentials;
  /** True for the gateway's own certificate (`nodes.tls: "auto"`). */
  readonly auto: boolean;
  /** The certificate presented now. */
  current(): CertificateInfo;
  /** Stops the renewal timer. */
  close(): void;
}

/**
 * The names and addresses an auto certificate must carry for a listener on `host`: localhost,
 * 127.0.0.1 and ::1; `host` itself unless it is a wildcard; for 0.0.0.0 / :: every address of every
 * interface (os.networkInterfaces(), IPv6 zone ids dropped); and the configured `nodes.tlsNames`.
 */
export function certificateHosts(host: string, tlsNames: readonly string[]): string[] {
  const hosts = ["localhost", "127.0.0.1", "::1"];
  if (host === "0.0.0.0" || host === "::") {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) hosts.push(a.address.replace(/%.*$/, ""));
    }
  } else {
    hosts.push(host);
  }
  hosts.push(...tlsNames);
  return [...new Set(hosts)];
}

/** Credentials and description for operator-supplied PEM files (`nodes.tls: {cert, key}`). Throws on unreadable files. */
export async function fileNodeTls(certPath: string, keyPath: string): Promise<NodeTls> {
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  const info = describeCertificate(cert);
  return {
    credentials: ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false),
    auto: false,
    current: () => info,
    close: () => undefined,
  };
}

/**
 * AutoNodeTls keeps `<dir>/cert.pem` and `<dir>/key.pem` (0600): a self-signed leaf certificate for
 * the listener's names (see self-signed-cert.ts). At start and every hour it re-issues the certificate
 * when it is missing, a CA (older pairgate), not serverAuth, longer than 397 days, within 30 days of
 * expiry, or missing a current name or address. Re-issuing keeps the key, so the SPKI pin nodes hold
 * survives; a new key is made only when key.pem is missing or not ECDSA P-256 (logged as a warning:
 * nodes must re-pin). The running listener picks up a renewed certificate without a restart.
 */
export class AutoNodeTls implements NodeTls, experimental.CertificateProvider {
  readonly auto = true;
  readonly credentials: ServerCredentials;
  readonly #dir: string;
  readonly #hosts: () => string[];
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sharedKey: ((candidate: string) => Promise<string>) | undefined;
  readonly #listeners = new Set<experimental.IdentityCertificateUpdateListener>();
  #certPem = "";
  #keyPem = "";
  #info: CertificateInfo | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> = Promise.resolve();

  private constructor(dir: string, hosts: () => string[], log: Logger, now: () => number, sharedKey: ((candidate: string) => Promise<string>) | undefined) {
    this.#dir = dir;
    this.#hosts = hosts;
    this.#log = log;
    this.#now = now;
    this.#sharedKey = sharedKey;
    this.credentials = experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  /**
   * Loads or creates the certificate in `dir` for the names `hosts()` returns, then checks it every
   * `checkIntervalMs`. With `sharedKey` (several daemons over one store) the key comes from there:
   * it is called with this daemon's key (or a new one) and returns the key every daemon uses (the
   * first daemon's, stored once), so they all present one SPKI pin; each daemon still issues its
   * own certificate for its own addresses. Throws when the directory cannot be written or the shared
   * key cannot be read.
   */
  static async start(options: {
    dir: string;
    hosts: () => string[];
    log: Logger;
    now?: () => number;
    checkIntervalMs?: number;
    sharedKey?: (candidate: string) => Promise<string>;
  }): Promise<AutoNodeTls> {
    const tls = new AutoNodeTls(options.dir, options.hosts, options.log, options.now ?? Date.now, options.sharedKey);
    await tls.check();
    tls.#timer = setInterval(() => void tls.check().catch((err: unknown) => {
      options.log.error("node TLS certificate check failed", { cause: String(err) });
    }), options.checkIntervalMs ?? TLS_CHECK_INTERVAL_MS);
    tls.#timer.unref();
    return tls;
  }

  /** Re-issues the certificate if it needs it (see the class comment); serialized. Throws on I/O errors. */
  check(): Promise<void> {
    this.#checking = this.#checking.catch(() => undefined).then(() => this.#check());
    return this.#checking;
  }

  current(): CertificateInfo {
    if (this.#info === undefined) throw new Error("node TLS not started");
    return this.#info;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    const certPath = join(this.#dir, "cert.pem");
    const keyPath = join(this.#dir, "key.pem");
    if (this.#keyPem === "") {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const [cert, key] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
      if (this.#sharedKey !== undefined) {
        const mine = key !== undefined && isUsableCertificateKey(key) ? key : newCertificateKey();
        this.#keyPem = await this.#sharedKey(mine);
        if (!isUsableCertificateKey(this.#keyPem)) throw new Error("the node TLS key in the shared store is not an ECDSA P-256 key");
        if (this.#keyPem !== key) {
          if (key !== undefined) this.#log.warn("node TLS key replaced by the one every daemon of this store uses (nodes pin that one)", { file: keyPath });
          await writeAtomic(keyPath, this.#keyPem, 0o600);
        }
      } else if (key !== undefined && isUsableCertificateKey(key)) this.#keyPem = key;
      else {
        if (key !== undefined) this.#log.warn("node TLS key is not ECDSA P-256; making a new key (nodes must re-pin)", { file: keyPath });
        this.#keyPem = newCertificateKey();
        await writeAtomic(keyPath, this.#keyPem, 0o600);
        if (key !== undefined) this.#log.info("new node TLS key written", { file: keyPath });
      }
      this.#certPem = cert ?? "";
    }
    const hosts = this.#hosts();
    let reason: string | undefined = "no certificate yet";
    if (this.#certPem !== "") {
      try {
        reason = renewalReason(describeCertificate(this.#certPem), this.#keyPem, hosts, this.#now());
      } catch {
        reason = "cert.pem is not a certificate";
      }
    }
    if (reason !== undefined) {
      this.#certPem = await issueLeafCertificate(this.#keyPem, hosts, new Date(this.#now()));
      await writeAtomic(certPath, this.#certPem, 0o644);
      this.#log.info("node TLS certificate issued (same key: the SPKI pin is unchanged)", { reason, file: certPath, names: hosts.join(" ") });
      this.#info = undefined;
    }
    if (this.#info === undefined) {
      this.#info = describeCertificate(this.#certPem);
      const update = { certificate: Buffer.from(this.#certPem), privateKey: Buffer.from(this.#keyPem) };
      for (const listener of this.#listeners) listener(update);
    }
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#listeners.add(listener);
    // grpc-js registers its watcher only after this returns, so the first certificate goes out on
    // the next tick (a synchronous call would reach nobody and the listener would refuse connections).
    queueMicrotask(() => {
      if (this.#info !== undefined && this.#listeners.has(listener)) {
        listener({ certificate: Buffer.from(this.#certPem), privateKey: Buffer.from(this.#keyPem) });
      }
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#listeners.delete(listener);
  }

  addCaCertificateListener(): void {}

  removeCaCertificateListener(): void {}
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Writes a file through a temporary file and rename, so a crash never leaves half a PEM. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}
