import { execFile } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { tempDir } from "../helpers/temp-dir";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const BUF = join(ROOT, "node_modules", ".bin", "buf");
const ACCESS = join("proto", "pairgate", "v1", "dm_access_service.proto");

/**
 * Runs `buf breaking` as `make lint` does, in `dir`; returns its exit code, raw output and the rule ids
 * it reported (from --error-format=json).
 */
async function bufBreaking(dir: string): Promise<{ code: number; out: string; rules: string[] }> {
  const args = ["breaking", "--against", "contract/pairgate-v1.json", "--error-format=json"];
  let code = 0;
  let out: string;
  try {
    const { stdout, stderr } = await run(BUF, args, { cwd: dir });
    out = stdout + stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    code = typeof e.code === "number" ? e.code : 1;
    out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  const rules = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => (JSON.parse(l) as { type: string }).type);
  return { code, out, rules };
}

describe("buf breaking against the committed contract snapshot (contract/pairgate-v1.json)", function () {
  this.timeout(60_000);
  let dir: { path: string; cleanup: () => void };

  /** A temp copy of the contract (proto/, buf.yaml, contract/) with `edit` applied to one file. */
  function copyWith(file: string, edit: (text: string) => string): string {
    for (const part of ["proto", "contract", "buf.yaml"]) cpSync(join(ROOT, part), join(dir.path, part), { recursive: true });
    const path = join(dir.path, file);
    const before = readFileSync(path, "utf8");
    const after = edit(before);
    expect(after, "the fixture edit must change the file").to.not.equal(before);
    writeFileSync(path, after);
    return dir.path;
  }

  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.cleanup());

  it("passes for the contract as it is", async () => {
    for (const part of ["proto", "contract", "buf.yaml"]) cpSync(join(ROOT, part), join(dir.path, part), { recursive: true });
    const res = await bufBreaking(dir.path);
    expect(res.out).to.equal("");
    expect(res.code).to.equal(0);
  });

  it("passes for additive changes: a new field, a new enum value, a new RPC and a new message", async () => {
    const d = copyWith(ACCESS, (t) =>
      t
        .replace("  int64 sent_at_ms = 5;\n}", "  int64 sent_at_ms = 5;\n  // A new field.\n  string thread_id = 6;\n}")
        .replace("  DECISION_DENY = 3;\n", "  DECISION_DENY = 3;\n  // A new verdict.\n  DECISION_LATER = 4;\n")
        .replace(
          "  rpc AckNotification(AckNotificationRequest) returns (AckNotificationResponse);\n",
          "  rpc AckNotification(AckNotificationRequest) returns (AckNotificationResponse);\n  // New.\n  rpc Ping(PingRequest) returns (PingResponse);\n",
        ) + "\n// PingRequest is new.\nmessage PingRequest {}\n\n// PingResponse is new.\nmessage PingResponse {}\n",
    );
    const res = await bufBreaking(d);
    expect(res.out).to.equal("");
    expect(res.code).to.equal(0);
  });

  it("fails when a field is renumbered", async () => {
    const res = await bufBreaking(copyWith(ACCESS, (t) => t.replace("string sender_id = 3;", "string sender_id = 13;")));
    expect(res.code).to.not.equal(0);
    expect(res.rules).to.include("FIELD_NO_DELETE");
  });

  it("fails when a field is removed without reserving it", async () => {
    const res = await bufBreaking(copyWith(ACCESS, (t) => t.replace(/\n\s*\/\/[^\n]*\n\s*int64 sent_at_ms = 5;/, "")));
    expect(res.code).to.not.equal(0);
    expect(res.rules, res.out).to.include("FIELD_NO_DELETE");
  });

  it("fails when a field changes type", async () => {
    const res = await bufBreaking(copyWith(ACCESS, (t) => t.replace("int64 sent_at_ms = 5;", "string sent_at_ms = 5;")));
    expect(res.code).to.not.equal(0);
    expect(res.rules, res.out).to.include("FIELD_SAME_TYPE");
  });

  it("fails when an RPC is removed", async () => {
    const res = await bufBreaking(
      copyWith(ACCESS, (t) => t.replace("  rpc AckNotification(AckNotificationRequest) returns (AckNotificationResponse);\n", "")),
    );
    expect(res.code).to.not.equal(0);
    expect(res.rules, res.out).to.include("RPC_NO_DELETE");
  });

  it("fails when a language package option changes (generated code would move)", async () => {
    const res = await bufBreaking(copyWith(ACCESS, (t) => t.replace('java_package = "dev.pairgate.v1"', 'java_package = "dev.pairgate.v1x"')));
    expect(res.code).to.not.equal(0);
    expect(res.rules, res.out).to.include("FILE_SAME_JAVA_PACKAGE");
  });
});
