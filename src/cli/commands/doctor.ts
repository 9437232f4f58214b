/* eslint-disable @typescript-eslint/no-require-imports */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type * as ConfigLoad from "../../config/load";
import type { GetDaemonStatusResponse } from "../../../clients/ts";
import type { CliContext } from "../context";
import { certificateFinding, certificateNotAfter, configFindings, diskFinding, type Finding, fileModeFindings } from "../doctor-checks";
import { loadClients } from "../lazy";
import { color } from "../output";
import { verify } from "./db";
import { CLI_VERSION } from "./version";

const MARK: Record<Finding["severity"], string> = { ok: "ok", info: "info", warning: "WARN", error: "ERROR" };

/** Registers `pairgate doctor [--json]`: checks with severity and the fix; exit 1 on any warning or error. */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command("doctor")
    .description("check the setup (policies, TLS, file modes, socket, versions, store, disk, certificate) and say how to fix what is wrong; exit 1 on any warning")
    .option("--json", "machine-readable output")
    .action(
      ctx.action(async (opts: { json?: boolean }) => {
        const findings = await runChecks(ctx);
        const warnings = findings.filter((f) => f.severity === "warning").length;
        const errors = findings.filter((f) => f.severity === "error").length;
        if (opts.json) ctx.out.json({ ok: warnings + errors === 0, warnings, errors, findings });
        else {
          for (const f of findings) {
            const mark = f.severity === "error" ? color.err(MARK[f.severity]) : f.severity === "warning" ? color.warn(MARK[f.severity]) : MARK[f.severity];
            ctx.out.line(`${mark.padEnd(5)} ${f.check}: ${f.message}`);
            if (f.fix !== "" && f.severity !== "ok") ctx.out.line(`      fix: ${f.fix}`);
          }
          ctx.out.line(warnings + errors === 0 ? "No problems found." : `${errors} error(s), ${warnings} warning(s).`);
        }
        if (warnings + errors > 0) process.exitCode = 1;
      }),
    );
}

/**
 * Several daemons over one store: they should run one version with one config (fingerprint), or
 * callers get different answers depending on the daemon they reach.
 */
export function instanceFindings(status: GetDaemonStatusResponse): Finding[] {
  const all = status.instances;
  if (all.length === 0) return [];
  const name = (i: (typeof all)[number]): string => `${i.host} pid ${i.pid} (${i.nodeListenAddress})`;
  const out: Finding[] = [];
  const others = all.filter((i) => i.configFingerprint !== status.configFingerprint);
  if (others.length > 0) {
    out.push({
      severity: "warning",
      check: "instances",
      message: `${others.length} of the ${all.length} daemons sharing this store run with a different config: ${others.map(name).join(", ")} (fingerprint ${others[0]!.configFingerprint.slice(0, 12)} vs ${status.configFingerprint.slice(0, 12)} here); their DM policies or limits differ`,
      fix: "give every daemon the same config (only sockets, nodes.listen, TLS files, tlsNames, logLevel and storage may differ), then reload them (SIGHUP)",
    });
  }
  const versions = new Set(all.map((i) => i.version));
  if (versions.size > 1) {
    out.push({ severity: "warning", check: "instances", message: `the daemons sharing this store run different versions: ${[...versions].join(", ")}`, fix: "upgrade every daemon to the same version" });
  }
  if (out.length === 0) out.push({ severity: "ok", check: "instances", message: `${all.length} daemon(s) share this store, with one version and one config`, fix: "" });
  return out;
}

/** Every check, online (through the daemon) where it answers and offline otherwise. */
async function runChecks(ctx: CliContext): Promise<Finding[]> {
  const { PairgateError } = loadClients();
  const home = ctx.home();
  const socketPath = ctx.socketPath();
  const findings: Finding[] = [];
  let status: GetDaemonStatusResponse | undefined;
  try {
    status = await ctx.client().admin.getDaemonStatus();
  } catch (err) {
    if (!(err instanceof PairgateError) || (err as { code?: string }).code !== "daemon_not_running") throw err;
  }
  if (status === undefined) {
    if (existsSync(socketPath)) {
      findings.push({ severity: "warning", check: "socket", message: `stale socket ${socketPath}: nothing answers on it (the daemon was killed or crashed)`, fix: "start the daemon (pairgate serve, or pairgate service install); it replaces the stale socket" });
    }
    findings.push({ severity: "warning", check: "daemon", message: `the daemon is not running (no answer on ${socketPath}); the checks below are offline`, fix: "pairgate serve (or pairgate service install)" });
  } else {
    findings.push({ severity: "ok", check: "daemon", message: `pairgate ${status.version} running (pid ${status.pid})`, fix: "" });
    if (status.version !== CLI_VERSION) {
      findings.push({ severity: "warning", check: "version", message: `the CLI is ${CLI_VERSION} but the daemon is ${status.version}`, fix: "restart the daemon after upgrading (pairgate service install, or restart pairgate serve)" });
    }
    findings.push(...instanceFindings(status));
    if (status.store?.writable === false) {
      findings.push({ severity: "error", check: "store", message: `the store is fenced (read-only) since ${new Date(status.store.fencedAtMs).toISOString()}: ${status.store.fenceCause}`, fix: "free disk space or fix the disk, then restart pairgate" });
    }
  }

  const { discoverConfig } = require("../../config/load") as typeof ConfigLoad;
  const configPath = status !== undefined ? (status.configPath === "" ? undefined : status.configPath) : discoverConfig(home, undefined);
  const { findings: configChecks, config } = configFindings(configPath);
  findings.push(...configChecks);
  findings.push(...fileModeFindings(home, socketPath, config, configPath));

  try {
    const v = await verify(ctx);
    findings.push(
      v.ok
        ? { severity: "ok", check: "store-verify", message: `store verified (${v.source}): ${v.counts.dmAllow ?? 0} allowed senders, ${v.counts.nodes ?? 0} paired nodes, every invariant holds`, fix: "" }
        : { severity: "error", check: "store-verify", message: `store verify (${v.source}) found ${v.problemCount} problem(s), e.g. ${v.problems[0]?.collection ?? ""} ${v.problems[0]?.key ?? ""}: ${v.problems[0]?.message ?? ""}`, fix: "pairgate db verify for the list; stop the daemon and run pairgate db repair" },
    );
  } catch (err) {
    if (status === undefined && !existsSync(join(home, "db"))) findings.push({ severity: "info", check: "store-verify", message: "no store yet (the first pairgate serve creates it)", fix: "" });
    else findings.push({ severity: "error", check: "store-verify", message: `cannot verify the store: ${(err as Error).message}`, fix: "see README, Backups and recovery" });
  }

  findings.push(diskFinding(home));

  let notAfter = status?.nodeTlsNotAfterMs ?? 0;
  let source = "served by the daemon";
  if (status === undefined && config?.nodes.tls !== undefined) {
    const cert = config.nodes.tls === "auto" ? join(home, "node-tls", "cert.pem") : config.nodes.tls.cert;
    notAfter = certificateNotAfter(cert);
    source = cert;
  }
  const cert = certificateFinding(notAfter, source);
  if (cert !== undefined) findings.push(cert);
  return findings;
}
