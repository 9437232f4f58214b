import { homedir } from "node:os";
import { join } from "node:path";

/** The platforms `pairgate service` knows: systemd user units (Linux) and launchd agents (macOS). */
export type ServicePlatform = "linux" | "darwin";

/** What a service runs: absolute node and CLI paths, and the state directory. */
export interface ServiceSpec {
  nodePath: string;
  cliPath: string;
  home: string;
}

/** The systemd unit name and the launchd label. */
export const SYSTEMD_UNIT = "pairgate.service";
export const LAUNCHD_LABEL = "dev.pairgate.daemon";

/** Where the unit / plist file goes for the current user. */
export function serviceFilePath(platform: ServicePlatform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === "darwin") return join(homedir(), "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  const config = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== "" ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(config, "systemd", "user", SYSTEMD_UNIT);
}

/** Quotes one word for a systemd ExecStart/Environment line ("…" with \ and " escaped, % doubled). */
function systemdQuote(word: string): string {
  return `"${word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"`;
}

/** A systemd user unit running `pairgate serve` (reload: SIGHUP; restarted on failure). */
export function systemdUnit(spec: ServiceSpec): string {
  return `# pairgate user service, written by \`pairgate service install\`.
# Manage: systemctl --user status|restart|reload pairgate; logs: journalctl --user -u pairgate
[Unit]
Description=pairgate pairing daemon (who may talk to your assistant)
After=network.target

[Service]
Type=simple
Environment=${systemdQuote(`PAIRGATE_HOME=${spec.home}`)}
ExecStart=${systemdQuote(spec.nodePath)} ${systemdQuote(spec.cliPath)} serve
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
UMask=0077
NoNewPrivileges=yes

[Install]
WantedBy=default.target
`;
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A launchd agent plist running `pairgate serve` at login, restarted when it fails. */
export function launchdPlist(spec: ServiceSpec): string {
  const log = join(spec.home, "pairgate.log");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- pairgate user agent, written by \`pairgate service install\`. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
    <string>${xml(spec.nodePath)}</string>
    <string>${xml(spec.cliPath)}</string>
    <string>serve</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>PAIRGATE_HOME</key>
    <string>${xml(spec.home)}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>Umask</key>
  <integer>63</integer>
  <key>StandardOutPath</key>
  <string>${xml(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(log)}</string>
</dict>
</plist>
`;
}
