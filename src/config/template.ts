import { join } from "node:path";

/**
 * The commented config `pairgate init` writes: every key with its real default (a test loads it and
 * compares it with the defaults of the schema), the optional ones commented out. JSONC: comments and
 * trailing commas are accepted by `pairgate serve`.
 */
export function configTemplate(home: string): string {
  return `// pairgate config (JSONC: comments and trailing commas are fine).
// Every value below is the default; edit what you need. \`pairgate serve\` reads this file from
// $PAIRGATE_HOME/config.json (or --config FILE); \`kill -HUP <pid>\` (or \`systemctl --user reload pairgate\`)
// reloads policies, allowFrom, dm limits, the reply text and the log level without a restart.
{
  // debug | info | warn | error. --log-level and $PAIRGATE_LOG_LEVEL override it.
  "logLevel": "info",

  // Operator unix socket (at most 100 bytes). Default: <home>/pairgate.sock
  // "socketPath": ${JSON.stringify(join(home, "pairgate.sock"))},

  "dm": {
    "pendingTtlMs": 3600000,        // pending request lifetime, from creation (60 s ... 7 days)
    "maxPending": 3,                // pending requests per channel account (1 ... 100)
    "historyGraceMs": 30000,        // no reply to messages sent this long before the daemon started
    "sweepIntervalMs": 10000,       // how often expired requests are removed ("expired" events)
    "unpairedResponse": "branded",  // branded | code-only | silent: what an unknown sender is sent
    // The branded reply; placeholders {code} {channel} {idLine} {approveCommand} {product}.
    // "replyTemplate": "{product}: access not configured.\\n\\n{idLine}\\n\\nPairing code: {code}\\n\\nAsk the bot owner to approve with:\\n{approveCommand}",
  },

  "nodes": {
    "listen": "127.0.0.1:7421",     // host:port of the node listener ("[::1]:7421" for IPv6)
    // TLS for the node listener: "auto" (self-signed, kept in <home>/node-tls/) or PEM paths.
    // Required for a non-loopback "listen" unless "insecure" is true.
    // "tls": "auto",
    // "tls": { "cert": "/path/cert.pem", "key": "/path/key.pem" },
    "insecure": false,              // allow a non-loopback listen without TLS (tokens in clear)
    "autoApproveLoopback": false,   // approve node requests from loopback peers without asking
    "maxPending": 32,               // pending node requests at once
    "name": "pairgate",             // the gateway's name shown to nodes
    "sweepIntervalMs": 10000,       // how often expired node requests are removed
  },

  // Per-channel DM policy: telegram whatsapp signal imessage discord slack msteams googlechat bluebubbles.
  // Every channel not listed uses dmPolicy "pairing" with an empty allowFrom. Example:
  //   "telegram": {
  //     "dmPolicy": "pairing",              // pairing | allowlist | open | disabled
  //     "allowFrom": ["123456789"],         // always allowed; "*" only with dmPolicy "open"
  //     "accounts": { "work": { "dmPolicy": "allowlist", "allowFrom": ["555"] } },
  //   },
  "channels": {},
}
`;
}
