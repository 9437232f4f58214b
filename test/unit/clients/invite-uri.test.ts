import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { formatInviteUri, InviteUriError, parseInviteUri } from "../../../clients/ts/invite-uri";
import { formatInviteUri as formatDaemonInviteUri } from "../../../src/domain/node-invite-uri";

describe("invite URI (clients/ts/invite-uri.ts and the daemon's formatter)", () => {
  const sample = () => ({
    gatewayId: randomBytes(32).toString("hex"),
    addresses: ["192.168.1.10:7421", "[fd00::1]:7421", "gateway.local:443"],
    tlsPin: `sha256/${randomBytes(32).toString("base64")}`,
    inviteId: randomBytes(8).toString("hex"),
    secret: new Uint8Array(randomBytes(32)),
    name: "Zoë's phone & tablet = 📱",
  });

  it("round-trips through format and parse, and the daemon formats byte-identically", () => {
    for (let i = 0; i < 50; i++) {
      const invite = { ...sample(), ...(i % 2 === 0 ? { tlsPin: "", name: "" } : {}) };
      const uri = formatInviteUri(invite);
      expect(parseInviteUri(uri)).to.deep.equal(invite);
      const daemon = formatDaemonInviteUri({
        ...invite,
        tlsSpkiSha256: invite.tlsPin === "" ? new Uint8Array() : Buffer.from(invite.tlsPin.slice(7), "base64"),
      });
      expect(daemon).to.equal(uri);
    }
  });

  it("ignores unknown parameters and surrounding white space", () => {
    const invite = sample();
    expect(parseInviteUri(`  ${formatInviteUri(invite)}&future=1\n`)).to.deep.equal(invite);
  });

  it("refuses malformed URIs, naming the parameter", () => {
    const good = formatInviteUri(sample());
    const cases: Array<[string, RegExp]> = [
      ["https://example.com/pair?v=1", /not a pairgate invite URI/],
      [good.replace("v=1", "v=2"), /version 2 is not supported/],
      [good.replace(/gateway_id=[0-9a-f]+/, "gateway_id=XYZ"), /"gateway_id"/],
      [good.replace(/&addr=[^&]+/g, ""), /"addr" is missing/],
      [good.replace(/addr=[^&]+/, "addr=no-port"), /"addr"/],
      [good.replace(/addr=[^&]+/, "addr=host%3A70000"), /"addr"/],
      [good.replace(/tls_pin=[0-9a-f]+/, "tls_pin=abc"), /"tls_pin"/],
      [good.replace(/invite_id=[0-9a-f]+/, "invite_id=0123"), /"invite_id"/],
      [good.replace(/secret=[^&]+/, "secret=short"), /"secret"/],
      [`${good}&secret=${Buffer.alloc(32).toString("base64url")}`, /"secret" must appear exactly once/],
      [good.replace(/name=[^&]+/, `name=${"x".repeat(65)}`), /"name"/],
    ];
    for (const [uri, message] of cases) expect(() => parseInviteUri(uri), uri).to.throw(InviteUriError, message);
  });
});
