// A [vars] entry holding a JSON array: a string (wrangler.toml `KEY = '[…]'`, `--var`) or an
// array already (a TOML array of tables). Empty means []. Each item is validated by `item`.

import { z } from "zod";

export function jsonArrayVar<T extends z.ZodTypeAny>(item: T) {
  return z
    .union([z.string(), z.array(z.unknown())])
    .default("[]")
    .transform((value, ctx) => {
      if (typeof value !== "string") return value;
      if (value.trim() === "") return [];
      try {
        return JSON.parse(value) as unknown;
      } catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `is not valid JSON (${error instanceof Error ? error.message : String(error)})` });
        return z.NEVER;
      }
    })
    .pipe(z.array(item));
}

/** A JSON [vars] string as the value it encodes (so a problem can quote the offending field), else as is. */
export function jsonValue(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}
