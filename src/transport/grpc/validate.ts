import { z } from "zod";
import { InvalidArgumentError } from "../../domain/errors";

/** Bounded string for names and ids at the RPC boundary (the domain applies the precise rules). */
export const shortText = (max: number) => z.string().max(max, `must be at most ${max} characters`);

/** Common list paging fields. */
export const pagingFields = {
  pageSize: z.number().int().min(0, "must not be negative"),
  pageToken: shortText(1024),
};

/** Formats a zod path in proto field names (snake_case), e.g. `sender_meta.username`. */
function protoPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : String(p).replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())))
    .join(".")
    .replace(/\.\[/g, "[");
}

/**
 * Validates a decoded request with `schema`. Throws InvalidArgumentError naming the first offending
 * field (in proto spelling) and why; nothing has been changed at that point.
 */
export function validate<S extends z.ZodType>(schema: S, request: unknown): z.infer<S> {
  const result = schema.safeParse(request);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined ? "" : protoPath(issue.path);
  throw new InvalidArgumentError(`invalid ${field || "request"}: ${issue?.message ?? "malformed"}`, field || undefined);
}
