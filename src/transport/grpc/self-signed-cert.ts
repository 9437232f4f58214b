import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type * as X509Types from "@peculiar/x509";

/**
 * The node listener's own TLS certificate ("auto"): a self-signed **leaf** that phones accept without
 * being weakened. Built with @peculiar/x509 (loaded on first use; the rest of the daemon never pays
 * for it) and read back with node:crypto's X509Certificate.
 *
 * - CA:FALSE (critical), keyUsage digitalSignature (critical), extendedKeyUsage serverAuth: a node
 *   that trusts it trusts one server, never a signer of other certificates (a CA certificate
 *   installed as a root would let the gateway's key intercept all of the phone's TLS).
 * - Valid 397 days (the most Apple and browsers accept for a TLS server certificate).
 * - subjectAltName: every name and address the listener is reached by (CN is ignored by clients).
 * - ECDSA P-256 / SHA-256. Renewal re-signs with the **same key**, so the SPKI pin stays valid.
 */

/** Validity of an auto certificate, in days. */
export const LEAF_VALIDITY_DAYS = 397;
/** An auto certificate is renewed when fewer days than this remain. */
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const SUBJECT = "CN=pairgate node gateway";

/** What a node needs to know about a certificate (and what `pairgate nodes tls` shows). */
export interface CertificateInfo {
  /** SHA-256 of the DER SubjectPublicKeyInfo: the pin (HPKP-style `sha256/<base64>`). */
  spkiSha256: Buffer;
  /** SHA-256 of the whole certificate (changes on renewal). */
  certificateSha256: Buffer;
  dnsNames: string[];
  ipAddresses: string[];
  notBeforeMs: number;
  notAfterMs: number;
  isCa: boolean;
  /** Extended key usage OIDs ([] when the extension is absent). */
  extendedKeyUsage: string[];
  certificatePem: string;
}

/** A fresh ECDSA P-256 private key, PKCS#8 PEM. */
export function newCertificateKey(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** True when `keyPem` is an ECDSA P-256 private key (the only kind an auto certificate uses). */
export function isUsableCertificateKey(keyPem: string): boolean {
  try {
    const key = createPrivateKey(keyPem);
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  } catch {
    return false;
  }
}

type X509Module = typeof X509Types;
let x509Module: X509Module | undefined;

/** Loads @peculiar/x509 (it needs the reflect-metadata polyfill first) and points it at node's WebCrypto. */
function x509(): X509Module {
  if (x509Module === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("reflect-metadata");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    x509Module = require("@peculiar/x509") as X509Module;
    x509Module.cryptoProvider.set(webcrypto as unknown as Parameters<X509Module["cryptoProvider"]["set"]>[0]);
  }
  return x509Module;
}

/**
 * Issues the self-signed leaf certificate for `hosts` (DNS names and IP addresses; duplicates are
 * dropped) with the P-256 key `keyPem`, valid from one minute before `now` for `days`. Returns PEM.
 * Throws when the key is not ECDSA P-256 or a host is not a valid DNS name or IP address.
 */
export async function issueLeafCertificate(keyPem: string, hosts: readonly string[], now = new Date(), days = LEAF_VALIDITY_DAYS): Promise<string> {
  const lib = x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const key = createPrivateKey(keyPem);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]);
  const publicKey = await webcrypto.subtle.importKey("spki", createPublicKey(key).export({ type: "spki", format: "der" }), alg, true, ["verify"]);
  const names = [...new Set(hosts)].map((h) => {
    if (isIP(h) !== 0) return { type: "ip" as const, value: h };
    if (!/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(h)) {
      throw new Error(`"${h}" is neither a DNS name nor an IP address`);
    }
    return { type: "dns" as const, value: h.toLowerCase() };
  });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: SUBJECT,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    signingAlgorithm: alg,
    keys: { privateKey, publicKey },
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth], false),
      new lib.SubjectAlternativeNameExtension(names, false),
      await lib.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return cert.toString("pem") + "\n";
}

/** Parses a PEM certificate. Throws when it is not one. */
export function describeCertificate(certPem: string | Buffer): CertificateInfo {
  const cert = new X509Certificate(certPem);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (cert.subjectAltName ?? "").split(", ")) {
    if (entry.startsWith("DNS:")) dnsNames.push(entry.slice(4));
    else if (entry.startsWith("IP Address:")) ipAddresses.push(canonicalIp(entry.slice(11)));
  }
  return {
    spkiSha256: spkiSha256(cert),
    certificateSha256: createHash("sha256").update(cert.raw).digest(),
    dnsNames,
    ipAddresses,
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    isCa: cert.ca,
    extendedKeyUsage: cert.keyUsage ?? [],
    certificatePem: cert.toString(),
  };
}

/** SHA-256 of a certificate's DER SubjectPublicKeyInfo. */
export function spkiSha256(cert: X509Certificate): Buffer {
  return createHash("sha256").update(cert.publicKey.export({ type: "spki", format: "der" })).digest();
}

/** An IP address in the form X509Certificate prints it for comparison ("0:0:0:0:0:0:0:1" -> "::1"). */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]/`).hostname.replace(/^\[|\]$/g, "");
}

/**
 * Why the auto certificate `info` (with private key `keyPem`) must be re-issued for `hosts` at
 * `nowMs`, or undefined when it is fine: not a leaf (an older pairgate's CA certificate), no serverAuth,
 * longer than 397 days, fewer than 30 days left, a name or address missing, or a key that does not
 * match.
 */
export function renewalReason(info: CertificateInfo, keyPem: string, hosts: readonly string[], nowMs: number): string | undefined {
  if (info.isCa) return "the certificate is a CA certificate (made by an older pairgate)";
  if (!info.extendedKeyUsage.includes(SERVER_AUTH)) return "the certificate lacks extendedKeyUsage serverAuth";
  if (info.notAfterMs - info.notBeforeMs > (LEAF_VALIDITY_DAYS + 1) * DAY_MS) return "the certificate is valid for more than 397 days";
  if (info.notAfterMs - nowMs < RENEW_BEFORE_DAYS * DAY_MS) return `fewer than ${RENEW_BEFORE_DAYS} days of validity remain`;
  const keySpki = createHash("sha256").update(createPublicKey(keyPem).export({ type: "spki", format: "der" })).digest();
  if (!keySpki.equals(info.spkiSha256)) return "the certificate does not match key.pem";
  const missing = hosts.filter((h) => (isIP(h) === 0 ? !info.dnsNames.includes(h.toLowerCase()) : !info.ipAddresses.includes(canonicalIp(h))));
  if (missing.length > 0) return `the certificate does not name ${missing.join(", ")}`;
  return undefined;
}
