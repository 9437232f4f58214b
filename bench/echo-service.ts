import type { ServiceDefinition } from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

/**
 * The baseline's tiny echo service, defined with grpc-js generic definitions (no .proto):
 * `/bench.v1.Echo/Echo(EchoMessage) returns (EchoMessage)`, where EchoMessage is
 * `{ string text = 1; int64 n = 2; }` encoded with the same protobuf runtime ts-proto uses.
 */

/** The echo request and response. */
export interface EchoMessage {
  text: string;
  n: number;
}

/** Encodes an EchoMessage as protobuf. */
export function encodeEcho(m: EchoMessage): Buffer {
  const w = new BinaryWriter();
  if (m.text !== "") w.uint32(10).string(m.text);
  if (m.n !== 0) w.uint32(16).int64(m.n);
  return Buffer.from(w.finish());
}

/** Decodes an EchoMessage. */
export function decodeEcho(buf: Uint8Array): EchoMessage {
  const r = new BinaryReader(buf);
  const m: EchoMessage = { text: "", n: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 10) m.text = r.string();
    else if (tag === 16) m.n = Number(r.int64());
    else r.skip(tag & 7);
  }
  return m;
}

/** The full method path of Echo. */
export const ECHO_PATH = "/bench.v1.Echo/Echo";

/** The grpc-js service definition of the echo service. */
export const EchoService: ServiceDefinition = {
  echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeEcho,
    requestDeserialize: decodeEcho,
    responseSerialize: encodeEcho,
    responseDeserialize: decodeEcho,
  },
};

/**
 * An echo payload about the size of a CheckInbound request for an allowed sender
 * (channel, sender id, a sender_meta entry and sent_at_ms: ~50 bytes on the wire).
 */
export const ECHO_PAYLOAD: EchoMessage = { text: "telegram/default/100012345 username=bench-user", n: 1_767_225_600_000 };
