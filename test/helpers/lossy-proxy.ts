import { createServer, type Server, type Socket, connect } from "node:net";

/**
 * A TCP proxy between a node and the gateway that can lose replies on purpose: `delayReplies(ms)` holds
 * every gateway->node chunk for `ms` before forwarding it, and `dropAll()` resets every connection,
 * discarding whatever is still held. Kill the daemon on its commit log line, then `dropAll()`: the
 * node never receives the committed reply. The target can change (a restarted daemon).
 */
export class LossyProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #delayMs = 0;

  private constructor(server: Server, public target: { host: string; port: number }) {
    this.#server = server;
  }

  /** Starts a proxy on a free loopback port forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<LossyProxy> {
    const server = createServer();
    const proxy = new LossyProxy(server, target);
    server.on("connection", (client: Socket) => proxy.#pipe(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** "127.0.0.1:port" for the node to dial. */
  get address(): string {
    return `127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Holds each gateway->node chunk for `ms` (0: forward at once). */
  delayReplies(ms: number): void {
    this.#delayMs = ms;
  }

  /** Resets every open connection and discards held replies. */
  dropAll(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #pipe(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (this.#delayMs === 0) {
        client.write(d);
        return;
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        client.write(d);
      }, this.#delayMs);
      this.#timers.add(timer);
    });
  }
}
