import { type ClientHttp2Session, type ClientHttp2Stream, connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";

/** What a raw call ended with. */
export interface RawResult {
  /** grpc-status (-1 when the stream closed without one). */
  code: number;
  details: string;
  /** Trailers (or trailers-only headers), lowercase names. */
  trailers: Record<string, string>;
  /** Response messages (without the 5-byte gRPC frame header). */
  messages: Buffer[];
}

/** A protobuf message type as ts-proto generates it. */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: Partial<T>): T;
}

/** Frames one gRPC message (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * A gRPC peer on plain HTTP/2 over its own TCP connection bound to a chosen local address, so tests
 * can act as distinct peers (127.0.0.2, 127.0.0.3, …) and do what grpc-js clients never do (send
 * headers without a body, hold idle connections, read trailers).
 */
export class RawPeer {
  private constructor(
    readonly socket: Socket,
    readonly session: ClientHttp2Session,
  ) {}

  /** Connects to host:port from `localAddress` and waits for the server's HTTP/2 SETTINGS. */
  static async connect(address: string, localAddress: string): Promise<RawPeer> {
    const i = address.lastIndexOf(":");
    const host = address.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(address.slice(i + 1));
    const socket = netConnect({ host, port, localAddress, noDelay: true });
    const session = http2Connect(`http://${address}`, { createConnection: () => socket });
    session.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      const closed = (): void => reject(new Error(`connection from ${localAddress} closed before SETTINGS`));
      session.once("close", closed);
      socket.once("close", closed);
    });
    return new RawPeer(socket, session);
  }

  /** Connects to a unix socket (the operator or adapter socket) and waits for the server's SETTINGS. */
  static async connectUnix(socketPath: string): Promise<RawPeer> {
    const socket = netConnect({ path: socketPath });
    const session = http2Connect("http://localhost", { createConnection: () => socket });
    session.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      const closed = (): void => reject(new Error(`connection to ${socketPath} closed before SETTINGS`));
      session.once("close", closed);
      socket.once("close", closed);
    });
    return new RawPeer(socket, session);
  }

  /** Whether the connection is gone. */
  get closed(): boolean {
    return this.session.closed || this.session.destroyed || this.socket.destroyed;
  }

  /** Resolves when the connection closes. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  /**
   * Starts a call to `path` ("/pkg.Service/Method"). `message` undefined sends headers only and leaves
   * the stream open (a slowloris client); otherwise the message is sent and the stream half-closed.
   * `live` fills as the response arrives; `done` resolves with it when the stream closes.
   */
  start(
    path: string,
    message?: Uint8Array,
    metadata: Record<string, string> = {},
  ): { stream: ClientHttp2Stream; done: Promise<RawResult>; live: RawResult } {
    const stream = this.session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...metadata,
    });
    const result: RawResult = { code: -1, details: "", trailers: {}, messages: [] };
    let pending = Buffer.alloc(0);
    const take = (headers: Record<string, unknown>): void => {
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":")) result.trailers[k] = String(v);
      if (headers["grpc-status"] !== undefined) {
        result.code = Number(headers["grpc-status"]);
        result.details = decodeURIComponent(String(headers["grpc-message"] ?? ""));
      }
    };
    stream.on("response", (h) => take(h));
    stream.on("trailers", (h) => take(h));
    stream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const n = pending.readUInt32BE(1);
        result.messages.push(pending.subarray(5, 5 + n));
        pending = pending.subarray(5 + n);
      }
    });
    stream.on("error", () => undefined);
    const done = new Promise<RawResult>((resolve) => stream.on("close", () => resolve(result)));
    if (message !== undefined) stream.end(grpcFrame(message));
    return { stream, done, live: result };
  }

  /** A unary call with typed request and response; the first response message decoded. */
  async unary<Req, Res>(
    path: string,
    reqType: MessageType<Req>,
    resType: MessageType<Res>,
    request: Partial<Req>,
    metadata: Record<string, string> = {},
  ): Promise<RawResult & { response: Res | undefined }> {
    const r = await this.start(path, reqType.encode(reqType.fromPartial(request)).finish(), metadata).done;
    return { ...r, response: r.messages[0] === undefined ? undefined : resType.decode(r.messages[0]) };
  }

  close(): void {
    this.session.destroy();
    this.socket.destroy();
  }
}
