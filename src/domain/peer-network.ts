import { isIPv4, isIPv6 } from "node:net";

/**
 * The network a peer address is counted under for per-peer quotas: an IPv4 address on its own
 * (every 127.0.0.0/8 address is its own peer, so loopback clients bound to different addresses are
 * distinct), an IPv4-mapped IPv6 address as its IPv4 address, any other IPv6 address as its /64
 * (one subscriber usually holds a whole /64). Anything else (a unix socket path) is returned as is.
 */
export function peerNetworkOf(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, lowercase hex without leading zeros. */
function expandIPv6(ip: string): string[] {
  const bare = ip.replace(/%.*$/, "");
  const [head = "", tail] = bare.split("::");
  const parse = (part: string): string[] => (part === "" ? [] : part.split(":")).flatMap(group);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...zeros, ...right];
}

/** One textual group; an embedded dotted IPv4 tail becomes two groups. */
function group(g: string): string[] {
  if (!g.includes(".")) return [parseInt(g, 16).toString(16)];
  const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
