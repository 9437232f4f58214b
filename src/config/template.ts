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
    "maxPendingTotal": 100,         // pending requests across every channel account (same "queue full" answer)
    "streamsPerConnection": 16,     // open SubscribeNotifications + WatchPairingEvents streams per socket connection (restart)
    // The branded reply; placeholders {code} {channel} {idLine} {approveCommand} {product}.
    // "replyTemplate": "{product}: access not configured.\\n\\n{idLine}\\n\\nPairing code: {code}\\n\\nAsk the bot owner to approve with:\\n{approveCommand}",
  },

  // The adapter socket: DmAccessService only (check senders, deliver notices; never approve).
  // Point chat adapters at it, never at the operator socket. Mode 0660; socketPath and socketGroup take
  // effect on restart, channels on reload.
  "adapters": {
    // "socketPath": ${JSON.stringify(join(home, "adapter.sock"))}, // default: adapter.sock beside the operator socket
    // "socketGroup": "pairgate-adapters",  // group name or gid owning the socket; default: the daemon's group
    // "channels": ["telegram"],            // channels the adapter socket may query; default: every channel
  },

  "nodes": {
    "listen": "127.0.0.1:7421",     // host:port of the node listener ("[::1]:7421" for IPv6)
    // TLS for the node listener: "auto" (the gateway's own leaf certificate in <home>/node-tls/,
    // renewed with the same key; nodes pin its key: pairgate nodes tls) or PEM paths.
    // Required for a non-loopback "listen" unless "insecure" is true.
    // "tls": "auto",
    // "tls": { "cert": "/path/cert.pem", "key": "/path/key.pem" },
    // "tlsNames": ["gateway.local"],  // extra names/addresses for the "auto" certificate
    "insecure": false,              // allow a non-loopback listen without TLS (tokens in clear)
    "autoApproveLoopback": false,   // approve node requests from loopback peers without asking
    "maxPending": 32,               // pending node requests at once
    "name": "pairgate",             // the gateway's name shown to nodes
    "sweepIntervalMs": 10000,       // how often expired node requests are removed
    // Per-address (IPv4 address, IPv6 /64) quotas and connection hygiene of the node listener.
    // RPC quotas answer RESOURCE_EXHAUSTED with a "retry-after-ms" trailer. Take effect on restart.
    "limits": {
      "rpcPerSecond": 10,             // token bucket of GetGatewayInfo/CreateChallenge/RequestPairing/AwaitPairing
      "rpcBurst": 40,
      "challengesPerNodePerPeer": 4,  // outstanding nonces per (node id, address); more evicts that pair's oldest
      "challengesPerPeer": 64,        // outstanding nonces per address
      "challengesPaired": 10000,      // pool for paired node ids (unknown ids cannot drain it)
      "challengesUnknown": 10000,     // pool for unknown node ids
      "pendingPerPeer": 4,            // pending pairing requests per address
      "awaitStreamsPerRequest": 4,    // open AwaitPairing streams per request
      "awaitStreamsPerPeer": 16,
      "watchStreamsPerSession": 2,    // open WatchNode streams per session
      "watchStreamsPerPeer": 32,
      "connectStreamsPerPeer": 32,    // Connect streams, authenticated or not
      "connectStreamsPerNode": 4,     // authenticated Connect streams; one more ends the oldest
      "connectionsPerPeer": 64,       // TCP connections; more are closed at once
      "streamsPerConnection": 16,     // HTTP/2 max concurrent streams per connection
      "firstRpcDeadlineMs": 10000,    // a connection must complete an RPC by then or is closed
      "requestTimeoutMs": 10000,      // a call's request must arrive by then (DEADLINE_EXCEEDED, connection closed)
      "connectionIdleMs": 300000,     // GOAWAY after this long without calls
      "connectionAgeMs": 1800000,     // GOAWAY after this long…
      "connectionAgeGraceMs": 960000, // …then open calls get this long
      "keepaliveMs": 30000,           // HTTP/2 PING interval
      "keepaliveTimeoutMs": 10000,    // close if a PING is not answered
    },
    // Phone onboarding by invite (pairgate nodes invite). Takes effect on restart.
    "invites": {
      "maxActive": 16,                // live invites at once
    },
  },

  // The audit trail (\`pairgate audit\`): swept at start, on reload and every 10 minutes.
  "audit": {
    "maxAgeDays": 90,                 // delete records older than this (1 … 3650)
    "maxRecords": 100000,             // keep at most this many, oldest deleted first (100 … 10,000,000)
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
