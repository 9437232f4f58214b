import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { externalComponentMissing, hasCommand } from "../helpers/external";
import { tempDir } from "../helpers/temp-dir";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const PROTO_DIR = join(ROOT, "proto");
const PROTOS = readdirSync(join(PROTO_DIR, "pairgate", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .map((f) => join(PROTO_DIR, "pairgate", "v1", f));

/**
 * Smoke checks of the per-language options: protoc's built-in generators (and protoc-gen-go) must
 * accept every .proto file and put the code where the options say. Python is exercised for real by
 * test/e2e/python-clients.e2e.test.ts; Swift has no generator in the registries we can use.
 */
describe("generated code for other languages (protoc from Debian's protobuf-compiler)", function () {
  if (!hasCommand("protoc") || !hasCommand("protoc-gen-go", ["--version"])) {
    externalComponentMissing("protoc with protoc-gen-go and protoc-gen-go-grpc (for the generated-code smoke checks)");
    return;
  }
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };
  const out = (lang: string, ...parts: string[]): string => join(dir.path, lang, ...parts);
  const text = (lang: string, ...parts: string[]): string => readFileSync(out(lang, ...parts), "utf8");

  before(async () => {
    dir = tempDir();
    for (const l of ["java", "kotlin", "csharp", "objc", "php", "ruby", "go"]) mkdirSync(out(l));
    await run("protoc", [
      `-I${PROTO_DIR}`,
      ...["java", "kotlin", "csharp", "objc", "php", "ruby"].map((l) => `--${l}_out=${out(l)}`),
      `--go_out=${out("go")}`,
      `--go-grpc_out=${out("go")}`,
      ...PROTOS,
    ]);
  });
  after(() => dir.cleanup());

  it("Java/Kotlin: one class per message in package dev.pairgate.v1, outer classes named *Proto", () => {
    expect(text("java", "dev", "pairgate", "v1", "CheckInboundRequest.java")).to.include("package dev.pairgate.v1;");
    for (const f of ["DmAccessServiceProto", "DmPairingServiceProto", "NodeAdminServiceProto", "NodePairingServiceProto"]) {
      expect(existsSync(out("java", "dev", "pairgate", "v1", `${f}.java`)), f).to.equal(true);
    }
    expect(text("kotlin", "dev", "pairgate", "v1", "CheckInboundRequestKt.kt")).to.include("package dev.pairgate.v1");
  });

  it("Go: import path github.com/pairgate/pairgate/gen/go/pairgate/v1, package pairgatev1, with gRPC clients", () => {
    const goDir = ["github.com", "pairgate", "pairgate", "gen", "go", "pairgate", "v1"];
    expect(text("go", ...goDir, "dm_access_service.pb.go")).to.match(/^package pairgatev1$/m);
    expect(text("go", ...goDir, "node_pairing_service_grpc.pb.go")).to.include("type NodePairingServiceClient interface");
  });

  it("C#, PHP, Ruby and Objective-C: namespaces Pairgate.V1, Pairgate\\V1, Pairgate::V1 and prefix PGV", () => {
    expect(text("csharp", "DmAccessService.cs")).to.match(/^namespace Pairgate\.V1 \{$/m);
    expect(text("php", "Pairgate", "V1", "CheckInboundRequest.php")).to.match(/^namespace Pairgate\\V1;$/m);
    expect(text("ruby", "pairgate", "v1", "dm_access_service_pb.rb")).to.match(/module Pairgate\s+module V1/);
    expect(text("objc", "pairgate", "v1", "DmAccessService.pbobjc.h")).to.include("@interface PGVCheckInboundRequest");
  });

  it("every .proto file declares every per-language option (buf lint keeps their values equal)", () => {
    const options = ["csharp_namespace", "go_package", "java_multiple_files", "java_outer_classname", "java_package", "objc_class_prefix", "php_namespace", "ruby_package", "swift_prefix"];
    for (const file of PROTOS) {
      const source = readFileSync(file, "utf8");
      for (const o of options) expect(source, `${file}: ${o}`).to.match(new RegExp(`^option ${o} = `, "m"));
    }
  });
});
