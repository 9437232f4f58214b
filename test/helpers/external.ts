import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The Debian packages the cross-language suites need; `.ci/run` installs them when CI=true. */
export const DEBIAN_PACKAGES = "python3-grpcio python3-protobuf python3-grpc-tools python3-nacl protobuf-compiler protoc-gen-go protoc-gen-go-grpc";

/** The command that installs {@link DEBIAN_PACKAGES}. */
export const INSTALL_COMMAND = `sudo apt-get install -y ${DEBIAN_PACKAGES}`;

/**
 * The Python that can run clients/python: $PAIRGATE_PYTHON if set (it must work), else the first of
 * /usr/bin/python3 and `python3` on PATH that imports grpc, google.protobuf, nacl and grpc_tools.
 * Undefined when none does.
 */
export function findPython(): string | undefined {
  const probe = (py: string): boolean =>
    spawnSync(py, ["-c", "import grpc, google.protobuf, nacl.signing, grpc_tools.protoc"], { stdio: "ignore", timeout: 20_000 }).status === 0;
  const override = process.env.PAIRGATE_PYTHON;
  if (override !== undefined && override !== "") return probe(override) ? override : undefined;
  return ["/usr/bin/python3", "python3"].find((py) => (py.startsWith("/") ? existsSync(py) : true) && probe(py));
}

/** True when `command` runs (exit 0) with `args`. */
export function hasCommand(command: string, args: readonly string[] = ["--version"]): boolean {
  return spawnSync(command, args, { stdio: "ignore", timeout: 20_000 }).status === 0;
}

/**
 * Call inside a `describe` whose external component is missing. On a developer machine it prints a
 * loud message naming the install command and registers no test; under CI=true (where `.ci/run`
 * installs the component) it registers one failing test instead, so CI can never pass by skipping.
 */
export function externalComponentMissing(what: string): void {
  const message = `${what} is missing: install it with \`${INSTALL_COMMAND}\` (or set PAIRGATE_PYTHON to a Python that has grpcio, protobuf, grpc_tools and PyNaCl)`;
  if (process.env.CI === "true") {
    it(`has its external component (${what}) installed on CI`, () => {
      throw new Error(message);
    });
    return;
  }
  console.error(`\n${"!".repeat(100)}\n!! NOT TESTED: ${message}\n${"!".repeat(100)}\n`);
}
