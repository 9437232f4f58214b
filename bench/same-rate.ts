/**
 * Same-rate pairs, at the highest concurrency only: the daemon workload and its echo baseline both run
 * paced at a fixed offered load (up to the same calls in flight), so their server CPU per call is
 * compared at one operating point. A closed-loop pair compares different ones: echo then runs about
 * twice as fast as the daemon, and grpc-js's per-call cost falls with the rate (HTTP/2 frames and
 * syscalls are shared by more calls), so the closed-loop ratio mixes the daemon's extra work with the
 * echo server's extra batching. The echo side runs at the same number of request/response exchanges
 * per second (2 per handshake or Connect session). Big-store rows run at the 1k row's rate, with no
 * echo run of their own: the scale goals compare them with the 1k row of the same round.
 */
export const SAME_RATE: Readonly<Record<string, { opsPerS: number; echoPerS?: number; like?: string }>> = {
  "allowed@1k": { opsPerS: 1500, echoPerS: 1500 },
  "handshake@1k": { opsPerS: 500, echoPerS: 1000 },
  "connect@1k": { opsPerS: 500, echoPerS: 1000 },
  "allowed@big": { opsPerS: 1500, like: "allowed@1k" },
  "handshake@big": { opsPerS: 500, like: "handshake@1k" },
};
/** The id of a workload's paced row (before "/c<concurrency>"). */
export const pacedId = (id: string, perS: number): string => `${id}@${perS}/s`;
