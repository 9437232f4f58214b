import { expect } from "chai";
import { Decision } from "../../src/gen/pairgate/v1/dm_access_service";
import { NotFoundError } from "../../clients/ts";
import { expectRejection } from "../helpers/expect-error";
import { startTestDaemon, type TestDaemon } from "../helpers/test-daemon";

describe("DM pairing through the daemon", () => {
  let t: TestDaemon;
  beforeEach(async () => {
    t = await startTestDaemon();
  });
  afterEach(async () => {
    await t.stop();
  });

  it("issues a code to an unknown sender and allows the sender once the code is approved", async () => {
    const first = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "123456789" });
    expect(first.decision).to.equal(Decision.DECISION_PAIRING_REQUIRED);
    expect(first.pairingCode).to.match(/^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/);
    expect(first.replyText).to.contain(`Pairing code: ${first.pairingCode}`);
    const approved = await t.client.dmPairing.approvePairingCode({ channel: "telegram", code: first.pairingCode.toLowerCase() });
    expect(approved.sender?.senderId).to.equal("123456789");
    const after = await t.client.dmAccess.checkInbound({ channel: "telegram", senderId: "123456789" });
    expect(after.decision).to.equal(Decision.DECISION_ALLOW);
    await expectRejection(t.client.dmPairing.approvePairingCode({ channel: "telegram", code: first.pairingCode }), NotFoundError);
  });
});
