/**
 * The IP address of a grpc-js peer string ("127.0.0.1:5555", "::1:5555", "::ffff:127.0.0.1:5555") and
 * whether it is loopback. Proxies are not trusted: only the TCP peer counts.
 */
export function peerAddress(peer: string): { remoteIp: string; loopback: boolean } {
  const i = peer.lastIndexOf(":");
  const ip = (i > 0 && /^\d+$/.test(peer.slice(i + 1)) ? peer.slice(0, i) : peer).replace(/^\[|\]$/g, "");
  const loopback = /^127\./.test(ip) || ip === "::1" || /^::ffff:127\./i.test(ip);
  return { remoteIp: ip, loopback };
}
