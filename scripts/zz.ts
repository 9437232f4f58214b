import { startTestDaemon } from "../test/helpers/test-daemon";
import { execFileSync } from "node:child_process";
void (async () => {
  const t = await startTestDaemon();
  for (const svc of ["", "pairgate.v1.DmAccessService", "pairgate.v1.NodeAdminService"]) {
  try {
    console.log(execFileSync("node_modules/.bin/buf", ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", t.daemon.socketPath, "--list-methods", "http://pairgate" + (svc ? "/" + svc : "")], { encoding: "utf8" }));
  } catch (e) { console.log(String(e)); }
  }
  await t.stop();
})();
