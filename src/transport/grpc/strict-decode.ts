import { isUtf8 } from "node:buffer";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { allDescriptorFiles } from "./server";

/**
 * What a strict deserializer hands the handler wrapper instead of a request it refused: the wrapper
 * answers INVALID_ARGUMENT with `message` (naming `field`) and the handler never runs. grpc-js itself
 * would answer INTERNAL "Error deserializing request" for a throwing deserializer.
 */
export class MalformedRequest {
  constructor(
    readonly message: string,
    readonly field: string | undefined,
  ) {}
}

/** Field kinds the UTF-8 check cares about. */
type FieldKind = { kind: "string"; name: string } | { kind: "message"; name: string; type: string };

/** Per message type (fully qualified, no leading dot): field number -> kind; other fields are skipped. */
let messageFields: Map<string, Map<number, FieldKind>> | undefined;
/** Per method path ("/pairgate.v1.Svc/Method"): its input type. */
let methodInputs: Map<string, string> | undefined;

const TYPE_STRING = 9;
const TYPE_MESSAGE = 11;

function load(): void {
  if (messageFields !== undefined) return;
  messageFields = new Map();
  methodInputs = new Map();
  for (const file of allDescriptorFiles()) {
    const r = new BinaryReader(file);
    let pkg = "";
    const messages: Uint8Array[] = [];
    const services: Uint8Array[] = [];
    while (r.pos < r.len) {
      const [f, w] = r.tag();
      if (f === 2) pkg = r.string();
      else if (f === 4) messages.push(r.bytes());
      else if (f === 6) services.push(r.bytes());
      else r.skip(w);
    }
    for (const m of messages) readMessage(m, pkg);
    for (const s of services) readService(s, pkg);
  }
}

function readMessage(encoded: Uint8Array, scope: string): void {
  const r = new BinaryReader(encoded);
  let name = "";
  const fields: Uint8Array[] = [];
  const nested: Uint8Array[] = [];
  while (r.pos < r.len) {
    const [f, w] = r.tag();
    if (f === 1) name = r.string();
    else if (f === 2) fields.push(r.bytes());
    else if (f === 3) nested.push(r.bytes());
    else r.skip(w);
  }
  const full = scope === "" ? name : `${scope}.${name}`;
  const kinds = new Map<number, FieldKind>();
  for (const fd of fields) {
    const fr = new BinaryReader(fd);
    let fname = "";
    let number = 0;
    let type = 0;
    let typeName = "";
    while (fr.pos < fr.len) {
      const [f, w] = fr.tag();
      if (f === 1) fname = fr.string();
      else if (f === 3) number = fr.int32();
      else if (f === 5) type = fr.int32();
      else if (f === 6) typeName = fr.string();
      else fr.skip(w);
    }
    if (type === TYPE_STRING) kinds.set(number, { kind: "string", name: fname });
    else if (type === TYPE_MESSAGE) kinds.set(number, { kind: "message", name: fname, type: typeName.replace(/^\./, "") });
  }
  messageFields!.set(full, kinds);
  for (const n of nested) readMessage(n, full);
}

function readService(encoded: Uint8Array, pkg: string): void {
  const r = new BinaryReader(encoded);
  let name = "";
  const methods: Uint8Array[] = [];
  while (r.pos < r.len) {
    const [f, w] = r.tag();
    if (f === 1) name = r.string();
    else if (f === 2) methods.push(r.bytes());
    else r.skip(w);
  }
  for (const m of methods) {
    const mr = new BinaryReader(m);
    let method = "";
    let input = "";
    while (mr.pos < mr.len) {
      const [f, w] = mr.tag();
      if (f === 1) method = mr.string();
      else if (f === 2) input = mr.string();
      else mr.skip(w);
    }
    methodInputs!.set(`/${pkg}.${name}/${method}`, input.replace(/^\./, ""));
  }
}

/**
 * The path (proto field names, e.g. `sender_meta.value`) of the first string field of `bytes` (a
 * message of `type`) that is not valid UTF-8, or undefined when every string is valid. Throws what
 * BinaryReader throws for a truncated message.
 */
export function invalidUtf8Field(bytes: Uint8Array, type: string): string | undefined {
  load();
  const fields = messageFields!.get(type);
  if (fields === undefined) return undefined;
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [number, wire] = r.tag();
    const kind = fields.get(number);
    if (kind === undefined || wire !== 2) {
      r.skip(wire);
      continue;
    }
    const value = r.bytes();
    if (kind.kind === "string") {
      if (!isUtf8(value)) return kind.name;
    } else {
      const inner = invalidUtf8Field(value, kind.type);
      // Map entries are messages with "key" and "value": report them as the map field itself.
      if (inner !== undefined) return inner === "key" || inner === "value" ? kind.name : `${kind.name}.${inner}`;
    }
  }
  return undefined;
}

/** Whether any string in a decoded message (values, map keys, nested messages, lists) holds U+FFFD. */
function hasReplacementChar(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\uFFFD");
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return false;
  if (Array.isArray(value)) return value.some(hasReplacementChar);
  for (const key in value) {
    if (key.includes("\uFFFD") || hasReplacementChar((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * Wraps every method's request deserializer of `definition` so that a request that is not valid
 * protobuf, or holds a string field that is not valid UTF-8, becomes a {@link MalformedRequest}
 * (answered INVALID_ARGUMENT by the handler wrapper, see handler.ts) instead of INTERNAL or a string
 * with U+FFFD where the bytes were. The decoded message is scanned for U+FFFD (cheap, no allocation);
 * only when one is present are the raw bytes checked, so valid traffic pays one scan.
 */
export function strictService<D extends ServiceDefinition<UntypedServiceImplementation>>(definition: D): D {
  load();
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    const input = methodInputs!.get(method.path) ?? "";
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        let message: unknown;
        try {
          message = decode(bytes);
        } catch {
          return new MalformedRequest("invalid request: not a valid protobuf message", undefined);
        }
        if (hasReplacementChar(message)) {
          let field: string | undefined;
          try {
            field = invalidUtf8Field(bytes, input);
          } catch {
            return new MalformedRequest("invalid request: not a valid protobuf message", undefined);
          }
          if (field !== undefined) return new MalformedRequest(`invalid ${field}: not valid UTF-8`, field);
        }
        return message;
      },
    };
  }
  return out as D;
}
