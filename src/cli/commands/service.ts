import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Command, Option } from "commander";
import { type CliContext, CliFailure } from "../context";
import { LAUNCHD_LABEL, launchdPlist, type ServicePlatform, serviceFilePath, SYSTEMD_UNIT, systemdUnit } from "../service-units";

interface PlatformOpts {
  platform?: ServicePlatform;
}

function platformOf(opts: PlatformOpts): ServicePlatform {
  if (opts.platform !== undefined) return opts.platform;
  if (process.platform === "linux" || process.platform === "darwin") return process.platform;
  throw new CliFailure(`pairgate service supports Linux (systemd) and macOS (launchd), not ${process.platform}; run \`pairgate serve\` under your own supervisor`);
}

/** Runs a service manager command; undefined when the tool is not installed. */
function run(tool: string, args: readonly string[]): { code: number; output: string } | undefined {
  const r = spawnSync(tool, args, { encoding: "utf8" });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  return { code: r.status ?? 1, output: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

function missing(tool: string, platform: ServicePlatform): CliFailure {
  return new CliFailure(
    `${tool} was not found on PATH, so the ${platform === "linux" ? "systemd user unit" : "launchd agent"} cannot be managed here. ` +
      `Without ${platform === "linux" ? "systemd" : "launchd"}, run \`pairgate serve\` under your own supervisor.`,
  );
}

const guiDomain = (): string => `gui/${process.getuid?.() ?? 0}`;

/**
 * Registers `pairgate service install|uninstall|status`: a systemd user unit on Linux, a launchd agent
 * on macOS, running `pairgate serve` with absolute paths to node and this CLI and the current home.
 */
export function registerServiceCommands(program: Command, ctx: CliContext): void {
  const service = program.command("service").description("run the daemon as a user service (systemd on Linux, launchd on macOS)");
  const platformOption = (): Option =>
    new Option("--platform <platform>", "write for this platform instead of the current one").choices(["linux", "darwin"]);

  service
    .command("install")
    .description("write the unit/agent for `pairgate serve` and start it (--print: only print it)")
    .option("--print", "print the unit/agent to stdout; install nothing")
    .addOption(platformOption())
    .action(
      ctx.action(async (opts: PlatformOpts & { print?: boolean }) => {
        const platform = platformOf(opts);
        const spec = { nodePath: process.execPath, cliPath: join(__dirname, "..", "main.js"), home: ctx.home() };
        const content = platform === "linux" ? systemdUnit(spec) : launchdPlist(spec);
        if (opts.print === true) {
          process.stdout.write(content);
          return;
        }
        const path = serviceFilePath(platform);
        mkdirSync(dirname(path), { recursive: true });
        mkdirSync(spec.home, { recursive: true, mode: 0o700 });
        writeFileSync(path, content, { mode: 0o644 });
        ctx.out.line(`Wrote ${path}`);
        if (platform === "linux") {
          const reload = run("systemctl", ["--user", "daemon-reload"]);
          if (reload === undefined) throw missing("systemctl", platform);
          const enable = run("systemctl", ["--user", "enable", "--now", SYSTEMD_UNIT]);
          if (enable === undefined || enable.code !== 0) throw new CliFailure(`systemctl --user enable --now ${SYSTEMD_UNIT} failed: ${enable?.output ?? ""}`);
          ctx.out.line(
            [
              `Started ${SYSTEMD_UNIT}. Status: pairgate service status; logs: journalctl --user -u pairgate -f`,
              "Reload the config: systemctl --user reload pairgate. To keep it running while you are logged out: loginctl enable-linger",
            ].join("\n"),
          );
        } else {
          const boot = run("launchctl", ["bootstrap", guiDomain(), path]);
          if (boot === undefined) throw missing("launchctl", platform);
          if (boot.code !== 0) throw new CliFailure(`launchctl bootstrap ${guiDomain()} ${path} failed: ${boot.output}`);
          ctx.out.line(
            `Started ${LAUNCHD_LABEL}. Status: pairgate service status; logs: ${join(spec.home, "pairgate.log")}; ` +
              `reload the config: launchctl kill SIGHUP ${guiDomain()}/${LAUNCHD_LABEL}`,
          );
        }
      }),
    );

  service
    .command("uninstall")
    .description("stop the service and remove its unit/agent file")
    .addOption(platformOption())
    .action(
      ctx.action(async (opts: PlatformOpts) => {
        const platform = platformOf(opts);
        const path = serviceFilePath(platform);
        if (platform === "linux") {
          const r = run("systemctl", ["--user", "disable", "--now", SYSTEMD_UNIT]);
          if (r === undefined) ctx.out.error("systemctl not found; removing the unit file only");
        } else {
          const r = run("launchctl", ["bootout", `${guiDomain()}/${LAUNCHD_LABEL}`]);
          if (r === undefined) ctx.out.error("launchctl not found; removing the agent file only");
        }
        if (!existsSync(path)) {
          ctx.out.line(`No service installed (${path} does not exist).`);
          return;
        }
        rmSync(path);
        if (platform === "linux") run("systemctl", ["--user", "daemon-reload"]);
        ctx.out.line(`Removed ${path}. The state in ${ctx.home()} is kept.`);
      }),
    );

  service
    .command("status")
    .description("show whether the service is installed and running (systemctl --user / launchctl)")
    .addOption(platformOption())
    .action(
      ctx.action(async (opts: PlatformOpts) => {
        const platform = platformOf(opts);
        const path = serviceFilePath(platform);
        ctx.out.line(existsSync(path) ? `Installed: ${path}` : `Not installed (no ${path}). Install with: pairgate service install`);
        const r =
          platform === "linux"
            ? run("systemctl", ["--user", "status", "--no-pager", SYSTEMD_UNIT])
            : run("launchctl", ["print", `${guiDomain()}/${LAUNCHD_LABEL}`]);
        if (r === undefined) throw missing(platform === "linux" ? "systemctl" : "launchctl", platform);
        if (r.output !== "") ctx.out.line(r.output);
        // systemctl status: 0 running, 3 stopped, 4 unknown unit; launchctl print: non-zero when not loaded.
        if (r.code !== 0) process.exitCode = 1;
      }),
    );
}
