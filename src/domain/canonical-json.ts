/**
 * JSON text with every object's keys sorted, so equal values give equal text whatever their key order
 * (a config file's order, PostgreSQL jsonb's order). Throws what JSON.stringify throws (cycles, BigInt).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
