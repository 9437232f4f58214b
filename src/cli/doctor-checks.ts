/* eslint-disable @typescript-eslint/no-require-imports */
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import type * as ConfigLoad from "../config/load";

/** How bad a finding is; any warning or error makes `pairgate doctor` exit 1. */
export type Severity = "ok" | "info" | "warning" | "error";

/** One thing `pairgate doctor` checked: what it found and how to fix it. */
export interface Finding {
  severity: Severity;
  /** Short name of the check (e.g. "dm-policy", "file-mode"). */
  check: string;
  message: string;
  /** What to do; "" when nothing. */
  fix: string;
}

/** Free-space thresholds of the state dir's file system. */
export const DISK_ERROR_BYTES = 50 * 1024 * 1024;
export const DISK_WARNING_BYTES = 500 * 1024 * 1024;
/** Certificates expiring within this are a warning (the auto certificate renews itself 30 days before). */
export const CERT_WARNING_MS = 14 * 86_400_000;

type RawConfig = ConfigLoad.LoadedConfig["config"];

/**
 * Checks of the config file: open DMs, "*" in allowFrom, a non-loopback node listener without TLS,
 * `insecure`, loopback auto-approval. An invalid file is one error finding (with the loader's message).
 */
export function configFindings(path: string | undefined): { findings: Finding[]; config?: RawConfig } {
  const { loadConfig } = require("../config/load") as typeof ConfigLoad;
  let config: RawConfig;
  try {
    config = loadConfig(path).config;
  } catch (err) {
    return { findings: [{ severity: "error", check: "config", message: (err as Error).message, fix: `fix ${path ?? "the config"}; pairgate init --force writes a fresh one` }] };
  }
  const at = path ?? "(embedded defaults)";
  const findings: Finding[] = [{ severity: "ok", check: "config", message: `config ${at} is valid`, fix: "" }];
  for (const [channel, c] of Object.entries(config.channels)) {
    if (c === undefined) continue;
    const scopes: Array<[string, string | undefined, string[] | undefined]> = [[`channels.${channel}`, c.dmPolicy, c.allowFrom]];
    for (const [account, a] of Object.entries(c.accounts ?? {})) {
      scopes.push([`channels.${channel}.accounts.${account}`, a.dmPolicy ?? c.dmPolicy, a.allowFrom ?? c.allowFrom]);
    }
    for (const [key, policy, allowFrom] of scopes) {
      if (policy === "open") {
        findings.push({ severity: "warning", check: "dm-policy", message: `${key}: dmPolicy "open": anyone can DM the assistant, no approval`, fix: `set ${key}.dmPolicy to "pairing" (the default) in ${at}` });
      }
      if (allowFrom?.includes("*") === true) {
        findings.push({ severity: "warning", check: "allow-from", message: `${key}.allowFrom contains "*": every sender is allowed`, fix: `replace "*" with the sender ids you trust in ${at}` });
      }
    }
  }
  const host = config.nodes.listen.slice(0, config.nodes.listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
  if (!loopback && config.nodes.tls === undefined) {
    findings.push({ severity: "error", check: "node-tls", message: `nodes.listen ${config.nodes.listen} is reachable from the network without TLS: node tokens cross it in clear`, fix: `set nodes.tls to "auto" in ${at} and pin it on the nodes (pairgate nodes tls)` });
  }
  if (config.nodes.insecure) {
    findings.push({ severity: "warning", check: "insecure", message: "nodes.insecure is true: a non-loopback node listener may run without TLS", fix: `remove nodes.insecure from ${at} and set nodes.tls` });
  }
  if (config.nodes.autoApproveLoopback) {
    findings.push({ severity: "warning", check: "auto-approve", message: "nodes.autoApproveLoopback is true: any local process can pair a node without you", fix: `set nodes.autoApproveLoopback to false in ${at}` });
  }
  return { findings, config };
}

/**
 * File mode checks: the state dir 0700; the db, store marker, config, TLS key and socket owner-only.
 * A path inside an owner-only state dir is protected by it (LevelDB creates `db/` 0755), so only
 * paths outside it, or everything when the state dir itself is open, are reported.
 */
export function fileModeFindings(home: string, socketPath: string, config: RawConfig | undefined, configPath: string | undefined): Finding[] {
  const findings: Finding[] = [];
  let homeOpen = false;
  const check = (path: string, what: string, fix: string): void => {
    if (!homeOpen && path.startsWith(home + "/")) return;
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      return;
    }
    if ((mode & 0o077) !== 0) {
      findings.push({ severity: (mode & 0o007) !== 0 ? "error" : "warning", check: "file-mode", message: `${what} ${path} has mode 0${mode.toString(8)}: other users can read it`, fix });
    }
  };
  if (!existsSync(home)) {
    findings.push({ severity: "info", check: "home", message: `state dir ${home} does not exist yet`, fix: "pairgate init" });
    return findings;
  }
  check(home, "state dir", `chmod 700 ${home}`);
  homeOpen = findings.length > 0;
  check(join(home, "db"), "database dir", `chmod 700 ${join(home, "db")}`);
  check(join(home, "store.json"), "store marker", `chmod 600 ${join(home, "store.json")}`);
  check(socketPath, "operator socket", "restart the daemon (it creates the socket 0600)");
  check(join(home, "node-tls", "key.pem"), "node TLS key", `chmod 600 ${join(home, "node-tls", "key.pem")}`);
  if (configPath !== undefined) check(configPath, "config file", `chmod 600 ${configPath}`);
  const tls = config?.nodes.tls;
  if (tls !== undefined && tls !== "auto") check(tls.key, "node TLS key", `chmod 600 ${tls.key}`);
  if (findings.length === 0) findings.push({ severity: "ok", check: "file-mode", message: `state dir ${home} is owner-only (0700)`, fix: "" });
  return findings;
}

/** Free space on the state dir's file system. */
export function diskFinding(home: string): Finding {
  let free: number;
  try {
    const s = statfsSync(existsSync(home) ? home : join(home, ".."));
    free = s.bavail * s.bsize;
  } catch (err) {
    return { severity: "info", check: "disk", message: `cannot read free space: ${(err as Error).message}`, fix: "" };
  }
  const mib = Math.floor(free / 1024 / 1024);
  if (free < DISK_ERROR_BYTES) return { severity: "error", check: "disk", message: `only ${mib} MiB free where the store lives: writes will fail and fence the store`, fix: `free space on the file system of ${home}` };
  if (free < DISK_WARNING_BYTES) return { severity: "warning", check: "disk", message: `${mib} MiB free where the store lives`, fix: `free space on the file system of ${home}` };
  return { severity: "ok", check: "disk", message: `${mib} MiB free`, fix: "" };
}

/** A certificate's expiry as a finding (`notAfterMs` 0 = no certificate). */
export function certificateFinding(notAfterMs: number, source: string, now = Date.now()): Finding | undefined {
  if (notAfterMs === 0) return undefined;
  const days = Math.floor((notAfterMs - now) / 86_400_000);
  const when = new Date(notAfterMs).toISOString();
  if (notAfterMs <= now) return { severity: "error", check: "certificate", message: `the node TLS certificate (${source}) expired ${when}: nodes cannot connect`, fix: 'replace it, or use nodes.tls "auto" (renewed automatically)' };
  if (notAfterMs - now < CERT_WARNING_MS) return { severity: "warning", check: "certificate", message: `the node TLS certificate (${source}) expires in ${days} days (${when})`, fix: 'renew it, or use nodes.tls "auto" (renewed automatically)' };
  return { severity: "ok", check: "certificate", message: `node TLS certificate valid for ${days} more days`, fix: "" };
}

/** The expiry of a PEM certificate file (offline check), or 0 when there is none or it cannot be read. */
export function certificateNotAfter(path: string): number {
  try {
    return Date.parse(new X509Certificate(readFileSync(path)).validTo);
  } catch {
    return 0;
  }
}
