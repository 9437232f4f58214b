import { existsSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatusMap } from "grpc-health-check";

/** Server options shared by every pairgate listener (and the benchmark's bare baseline server). */
export const SERVER_OPTIONS: ServerOptions = {
  // Pairing messages are tiny; refuse anything large before a handler runs.
  "grpc.max_receive_message_length": 64 * 1024,
  "grpc.max_concurrent_streams": 128,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.max_connection_idle_ms": 15 * 60_000,
};

/** Creates a grpc-js server with {@link SERVER_OPTIONS}. */
export function createServer(): Server {
  return new Server(SERVER_OPTIONS);
}

/**
 * Finds the directory holding `pairgate/v1/*.proto`, walking up from this file (works from src/ under
 * tsx and from dist/ after a build). Throws if the package's proto/ directory is missing.
 */
export function protoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, "pairgate", "v1"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("cannot find pairgate's proto/ directory next to the installed package");
}

/** Registers server reflection (v1 and v1alpha) for the given .proto files (relative to proto/). */
export function addReflection(server: Server, protoFiles: readonly string[]): void {
  const definition = protoLoader.loadSync([...protoFiles], {
    includeDirs: [protoRoot()],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(definition).addToServer(server);
}

/** Registers grpc.health.v1.Health with every listed service (and "") SERVING; returns it for updates. */
export function addHealth(server: Server, services: readonly string[]): HealthImplementation {
  const statuses: ServingStatusMap = { "": "SERVING" };
  for (const s of services) statuses[s] = "SERVING";
  const health = new HealthImplementation(statuses);
  health.addToServer(server);
  return health;
}

/** Binds `server` to a unix socket and restricts it to the owner (mode 0600). */
export async function bindUnix(server: Server, socketPath: string): Promise<void> {
  // Create the socket owner-only from the start (no window with umask permissions), then make sure.
  const previous = process.umask(0o177);
  try {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
  } finally {
    process.umask(previous);
  }
  await chmod(socketPath, 0o600);
}

/**
 * Stops `server`: refuses new calls, lets running unary calls finish for up to `graceMs`, then
 * cancels whatever is left.
 */
export async function stopServer(server: Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
