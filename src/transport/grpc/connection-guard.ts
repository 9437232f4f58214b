import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import {
  Metadata,
  type Server,
  type ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerOptions,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "../../domain/logger";
import { peerNetworkOf } from "../../domain/peer-network";
import { SERVER_OPTIONS } from "./server";

/** Connection limits of the node listener (a subset of `nodes.limits`). */
export interface ConnectionGuardOptions {
  connectionsPerPeer: number;
  streamsPerConnection: number;
  firstRpcDeadlineMs: number;
  requestTimeoutMs: number;
  connectionIdleMs: number;
  connectionAgeMs: number;
  connectionAgeGraceMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
}

interface Connection {
  socket: Socket;
  /** An RPC on it has completed with OK. */
  proven: boolean;
  timer: NodeJS.Timeout;
}

/** How long the DEADLINE_EXCEEDED status of a stalled call gets to leave before its connection is closed. */
const STALLED_CLOSE_DELAY_MS = 200;

/** How often a refused connection is logged at most (with the count since the last line). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * ConnectionGuard owns the node listener's TCP socket, in process: grpc-js has no per-IP cap and no
 * deadline by which a connection must do something useful, so the guard accepts each connection
 * itself, closes it at once when its peer network already holds `connectionsPerPeer`, closes it after
 * `firstRpcDeadlineMs` unless an RPC on it has completed with OK by then, and only then hands it to
 * grpc-js (`Server.createConnectionInjector`, which also does TLS). Its server interceptor ends any
 * call whose request has not fully arrived within `requestTimeoutMs` (checked by one sweeper, so up to a
 * quarter of it later) (a client that sends headers and
 * never a body) with DEADLINE_EXCEEDED and then closes that connection (such a stream would otherwise
 * stay half-open, holding a stream slot), and marks connections proven. Keepalive, idle and age limits
 * and the stream cap are grpc-js options ({@link ConnectionGuard.serverOptions}).
 */
export class ConnectionGuard {
  readonly #o: ConnectionGuardOptions;
  readonly #log: Logger;
  readonly #connections = new Map<string, Connection>();
  readonly #perPeer = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  #net: NetServer | undefined;
  /** Connections not proven yet; while it is 0, completed calls skip the connection lookup. */
  #unproven = 0;
  /**
   * Calls whose request has not fully arrived, with their monotonic start, oldest first (the timeout
   * being constant, insertion order is deadline order). One sweeper checks them every
   * {@link sweepEveryMs} instead of a timer per call (a timer per call was most of the guard's cost).
   */
  readonly #awaiting = new Map<ServerInterceptingCallInterface, number>();
  #sweeper: NodeJS.Timeout | undefined;
  #refused = 0;
  #refusalLoggedAt = 0;

  constructor(options: ConnectionGuardOptions, log: Logger) {
    this.#o = options;
    this.#log = log;
  }

  /** grpc-js options of the node server: keepalive, idle, age, the stream cap and the interceptor. */
  serverOptions(): ServerOptions {
    const o = this.#o;
    return {
      ...SERVER_OPTIONS,
      "grpc.max_concurrent_streams": o.streamsPerConnection,
      "grpc.keepalive_time_ms": o.keepaliveMs,
      "grpc.keepalive_timeout_ms": o.keepaliveTimeoutMs,
      "grpc.max_connection_idle_ms": o.connectionIdleMs,
      "grpc.max_connection_age_ms": o.connectionAgeMs,
      "grpc.max_connection_age_grace_ms": o.connectionAgeGraceMs,
      interceptors: [this.#interceptor],
    };
  }

  /** Open connections (tests, status). */
  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Listens on host:port and feeds accepted connections to `server` with `credentials`. Resolves with
   * the bound port. Rejects when the address cannot be bound.
   */
  async listen(server: Server, credentials: ServerCredentials, host: string, port: number): Promise<number> {
    const injector = server.createConnectionInjector(credentials);
    const net = createNetServer({ noDelay: true }, (socket) => this.#accept(socket, (s) => injector.injectConnection(s)));
    this.#net = net;
    await new Promise<void>((resolve, reject) => {
      net.once("error", reject);
      net.listen(port, host, () => {
        net.off("error", reject);
        resolve();
      });
    });
    net.on("error", (err) => this.#log.error("node listener error", { cause: String(err) }));
    const address = net.address();
    return typeof address === "object" && address !== null ? address.port : port;
  }

  /** Stops accepting; destroys connections still open (call after the grpc server's graceful stop). */
  async close(): Promise<void> {
    const net = this.#net;
    if (net === undefined) return;
    this.#net = undefined;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#awaiting.clear();
    const closed = new Promise<void>((resolve) => net.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #accept(socket: Socket, inject: (s: Socket) => void): void {
    socket.on("error", () => undefined); // resets are normal; the close handler cleans up
    const ip = socket.remoteAddress;
    if (ip === undefined) {
      socket.destroy();
      return;
    }
    const peer = peerNetworkOf(ip);
    const held = this.#perPeer.get(peer) ?? 0;
    if (held >= this.#o.connectionsPerPeer) {
      socket.destroy();
      this.#refused++;
      const now = Date.now();
      if (now - this.#refusalLoggedAt >= REFUSAL_LOG_INTERVAL_MS) {
        this.#log.warn("node connection refused: per-address connection cap reached", {
          peer,
          limit: this.#o.connectionsPerPeer,
          refusedSinceLastLog: this.#refused,
        });
        this.#refusalLoggedAt = now;
        this.#refused = 0;
      }
      return;
    }
    this.#perPeer.set(peer, held + 1);
    this.#sockets.add(socket);
    const key = `${ip}|${socket.remotePort}`;
    const connection: Connection = {
      socket,
      proven: false,
      timer: setTimeout(() => {
        if (!connection.proven) socket.destroy();
      }, this.#o.firstRpcDeadlineMs),
    };
    this.#unproven++;
    connection.timer.unref();
    this.#connections.set(key, connection);
    socket.once("close", () => {
      clearTimeout(connection.timer);
      if (!connection.proven) this.#unproven--;
      this.#connections.delete(key);
      this.#sockets.delete(socket);
      const n = (this.#perPeer.get(peer) ?? 1) - 1;
      if (n <= 0) this.#perPeer.delete(peer);
      else this.#perPeer.set(peer, n);
    });
    inject(socket);
  }

  #connectionOf(call: ServerInterceptingCallInterface): Connection | undefined {
    const info = call.getConnectionInfo();
    return this.#connections.get(`${info.remoteAddress}|${info.remotePort}`);
  }

  /**
   * Marks the connection of a call as proven, by the call's peer string as grpc-js reports it
   * ("127.0.0.1:5555", "::1:5555"): for a long-lived stream whose node has authenticated (Connect),
   * which never completes with OK before the first-RPC deadline.
   */
  proveConnectionOf(peer: string): void {
    const i = peer.lastIndexOf(":");
    if (i <= 0) return;
    const connection = this.#connections.get(`${peer.slice(0, i)}|${peer.slice(i + 1)}`);
    if (connection === undefined) return;
    this.#prove(connection);
  }

  #markProven(call: ServerInterceptingCallInterface): void {
    if (this.#unproven === 0) return;
    const connection = this.#connectionOf(call);
    if (connection !== undefined) this.#prove(connection);
  }

  #prove(connection: Connection): void {
    if (connection.proven) return;
    connection.proven = true;
    this.#unproven--;
    clearTimeout(connection.timer);
  }

  /** Checks incoming requests every quarter of the request timeout (10 ms to 1 s). */
  get sweepEveryMs(): number {
    return Math.min(1000, Math.max(10, Math.floor(this.#o.requestTimeoutMs / 4)));
  }

  #await(call: ServerInterceptingCallInterface): void {
    this.#awaiting.set(call, performance.now());
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), this.sweepEveryMs);
      this.#sweeper.unref();
    }
  }

  /** Ends every call whose request is overdue (oldest first; stops at the first that is not). */
  #sweep(): void {
    const due = performance.now() - this.#o.requestTimeoutMs;
    for (const [call, startedMs] of this.#awaiting) {
      if (startedMs > due) break;
      this.#awaiting.delete(call);
      call.sendStatus({
        code: status.DEADLINE_EXCEEDED,
        details: `request not received within ${this.#o.requestTimeoutMs} ms`,
        metadata: new Metadata(),
      });
      const socket = this.#connectionOf(call)?.socket;
      if (socket !== undefined) setTimeout(() => socket.destroy(), STALLED_CLOSE_DELAY_MS).unref();
    }
    if (this.#awaiting.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  readonly #interceptor: ServerInterceptor = (method, call) => {
    const stop = (): void => {
      this.#awaiting.delete(call);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        this.#await(call);
        next({
          // A client-streaming call (Connect) has "arrived" with its first message; it never half-closes.
          onReceiveMessage: (message, nextMessage) => {
            if (method.requestStream) stop();
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            stop();
            nextHalfClose();
          },
          onCancel: stop,
        });
      },
      sendStatus: (s, nextStatus) => {
        stop();
        if (s.code === status.OK) this.#markProven(call);
        nextStatus(s);
      },
    });
  };
}
