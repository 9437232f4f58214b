/** Thrown by startDaemon (src/daemon.ts) for a start-up problem the operator must fix; the message says how. */
export class DaemonStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DaemonStartError";
  }
}
