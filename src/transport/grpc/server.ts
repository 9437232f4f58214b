import { existsSync } from "node:fs";
import { chmod, chown, lstat, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { PackageDefinition } from "@grpc/proto-loader";
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

/** Creates a grpc-js server with `options` (default {@link SERVER_OPTIONS}). */
export function createServer(options: ServerOptions = SERVER_OPTIONS): Server {
  return new Server(options);
}

/**
 * Finds a file or directory of the installed package (e.g. "proto", "src/gen/pairgate.binpb"), walking
 * up from this file so it works from src/ under tsx and from dist/ after a build. Throws if missing.
 */
export function packagePath(relative: string): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`cannot find ${relative} in the pairgate package`);
}

/** The directory holding `pairgate/v1/*.proto`. */
export function protoRoot(): string {
  return packagePath("proto");
}

/** One FileDescriptorProto of our descriptor set, with what reflection filtering needs. */
interface DescriptorFile {
  name: string;
  encoded: Buffer;
  dependencies: string[];
  /** Fully qualified names of the services it defines. */
  services: string[];
}

let descriptorFiles: DescriptorFile[] | undefined;

/**
 * The FileDescriptorProtos of our .proto files, split out of the FileDescriptorSet that `make gen`
 * writes with `buf build` (src/gen/pairgate.binpb), with each file's name, imports and services.
 */
function fileDescriptorProtos(): DescriptorFile[] {
  if (descriptorFiles !== undefined) return descriptorFiles;
  const reader = new BinaryReader(readFileSync(packagePath("src/gen/pairgate.binpb")));
  const files: DescriptorFile[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) files.push(describeFile(Buffer.from(reader.bytes())));
    else reader.skip(wireType);
  }
  descriptorFiles = files;
  return files;
}

/** Reads name (1), package (2), dependency (3) and service names (6.1) of a FileDescriptorProto. */
function describeFile(encoded: Buffer): DescriptorFile {
  const r = new BinaryReader(encoded);
  const file: DescriptorFile = { name: "", encoded, dependencies: [], services: [] };
  let pkg = "";
  const serviceNames: string[] = [];
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1) file.name = r.string();
    else if (field === 2) pkg = r.string();
    else if (field === 3) file.dependencies.push(r.string());
    else if (field === 6) {
      const s = new BinaryReader(r.bytes());
      while (s.pos < s.len) {
        const [f, w] = s.tag();
        if (f === 1) serviceNames.push(s.string());
        else s.skip(w);
      }
    } else r.skip(wireType);
  }
  file.services = serviceNames.map((n) => (pkg === "" ? n : `${pkg}.${n}`));
  return file;
}

/** Every FileDescriptorProto of our .proto files, encoded (strict-decode reads field types from them). */
export function allDescriptorFiles(): Buffer[] {
  return fileDescriptorProtos().map((f) => f.encoded);
}

/** The files defining `services` plus everything they import, transitively. */
export function descriptorFilesFor(services: readonly string[]): Buffer[] {
  const all = fileDescriptorProtos();
  const byName = new Map(all.map((f) => [f.name, f]));
  const chosen = new Set<DescriptorFile>();
  const add = (f: DescriptorFile | undefined): void => {
    if (f === undefined || chosen.has(f)) return;
    chosen.add(f);
    for (const d of f.dependencies) add(byName.get(d));
  };
  for (const f of all) if (f.services.some((s) => services.includes(s))) add(f);
  return all.filter((f) => chosen.has(f)).map((f) => f.encoded);
}

/**
 * Registers server reflection (v1 and v1alpha) for the named services only, with only the files that
 * define them and their imports: the node listener must not hand the operator API's schema to
 * anyone who asks (`FileContainingSymbol(NodeAdminService)` answers NOT_FOUND there).
 *
 * Why not proto-loader: it merges every file of a package into one synthetic `pairgate_v1.proto`
 * descriptor that `buf curl` (and grpcurl-style clients) cannot resolve services from. Reflection is
 * therefore fed the exact descriptors `buf build` produced, in the shape @grpc/reflection reads
 * (`fileDescriptorProtos` of a package definition entry).
 */
export function addReflection(server: Server, services: readonly string[]): void {
  const definition = {
    "pairgate.v1": { format: "", type: {}, fileDescriptorProtos: descriptorFilesFor(services) },
  } as unknown as PackageDefinition;
  new ReflectionService(definition, { services: [...services] }).addToServer(server);
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
  await bindUnixSocket(server, socketPath, { mode: 0o600 });
}

/** How a unix socket is exposed: its mode and, optionally, its group (the adapter socket: 0660 + group). */
export interface UnixSocketAccess {
  /** 0o600 (owner only) or 0o660 (owner and group). */
  mode: 0o600 | 0o660;
  /** Group id to give the socket; undefined keeps the daemon's group. */
  gid?: number | undefined;
}

/**
 * Binds `server` to a unix socket with `access`: the socket is created with no more than the final
 * permissions (a restrictive umask around bind, so there is no window with wider ones), then its
 * group and mode are set. Throws what bind, chown or chmod throw (EPERM: the daemon is not in the group).
 */
export async function bindUnixSocket(server: Server, socketPath: string, access: UnixSocketAccess): Promise<void> {
  const previous = process.umask(0o777 & ~access.mode);
  try {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
  } finally {
    process.umask(previous);
  }
  if (access.gid !== undefined) await chown(socketPath, process.getuid?.() ?? -1, access.gid);
  await chmod(socketPath, access.mode);
}

/** Thrown by {@link removeStaleSocket} when the path exists and is not a socket. */
export class NotASocketError extends Error {
  constructor(readonly path: string, readonly kind: string) {
    super(`${path} exists and is ${kind}, not a socket`);
    this.name = "NotASocketError";
  }
}

/**
 * Removes a stale unix socket at `socketPath` (the caller holds the state lock, so no live daemon
 * owns it). Anything else at that path (a regular file, a directory, a symlink) is never touched:
 * throws NotASocketError naming what it is.
 */
export async function removeStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) {
    const kind = st.isFile() ? "a regular file" : st.isDirectory() ? "a directory" : st.isSymbolicLink() ? "a symbolic link" : "not a socket";
    throw new NotASocketError(socketPath, kind);
  }
  await rm(socketPath, { force: true });
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
