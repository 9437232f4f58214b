/**
 * The one `--json` convention of every read command (README, "JSON output"): every field of a record
 * is present, zero values, empty lists and empty maps included; times (`…AtMs`) and counts are JSON
 * numbers (times in Unix ms, 0 = never); enums are their short lowercase names (`pairing`, `approved`);
 * bytes are base64 strings. Lists are wrapped in an object (`{"requests": [...]}`), with
 * `nextPageToken` ("" on the last page) where the command pages. Streams print one object per line.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A generated enum object (name <-> number) and the prefix its value names carry. */
export type EnumSpec = readonly [enumObject: Record<number, string>, prefix: string];

/** The short lowercase name of an enum value: DM_POLICY_PAIRING -> "pairing"; unknown -> "unspecified". */
export function enumName([enumObject, prefix]: EnumSpec, value: number): string {
  const name = enumObject[value];
  return name === undefined || name === "UNRECOGNIZED" ? "unspecified" : name.slice(prefix.length).toLowerCase();
}

/**
 * Converts a decoded message (the generated interfaces always hold every field) to the convention:
 * fields listed in `enums` become names, bytes become base64, everything else is copied as is.
 */
export function messageJson(message: object, enums: Record<string, EnumSpec> = {}): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(message)) {
    const spec = enums[key];
    out[key] = spec !== undefined && typeof value === "number" ? enumName(spec, value) : plain(value);
  }
  return out;
}

function plain(value: unknown): JsonValue {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  if (value === undefined) return null;
  return value as JsonValue;
}
