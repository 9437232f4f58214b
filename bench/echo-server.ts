import { rmSync } from "node:fs";
import { type sendUnaryData, Server, ServerCredentials, type ServerUnaryCall } from "@grpc/grpc-js";
import { SERVER_OPTIONS } from "../src/transport/grpc/server";
import { type EchoMessage, EchoService } from "./echo-service";

/**
 * The baseline server process: a bare grpc-js server with the daemon's SERVER_OPTIONS serving only
 * the echo service, on a unix socket (like the operator API) and on loopback TCP (like the node API).
 * Usage: node dist/bench/echo-server.js <socket path>. Prints `{"tcpPort":N}` on stdout when bound;
 * stops on SIGTERM.
 */
async function main(): Promise<void> {
  const socketPath = process.argv[2];
  if (socketPath === undefined) throw new Error("usage: echo-server <socket path>");
  rmSync(socketPath, { force: true });
  const server = new Server(SERVER_OPTIONS);
  server.addService(EchoService, {
    echo: (call: ServerUnaryCall<EchoMessage, EchoMessage>, callback: sendUnaryData<EchoMessage>) => callback(null, call.request),
  });
  const bind = (address: string): Promise<number> =>
    new Promise((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  await bind(`unix:${socketPath}`);
  const tcpPort = await bind("127.0.0.1:0");
  process.stdout.write(JSON.stringify({ tcpPort }) + "\n");
  process.on("SIGTERM", () => {
    server.forceShutdown();
    rmSync(socketPath, { force: true });
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
