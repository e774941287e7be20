// ConfigError, and zod's issues about a configuration value turned into sentences a person reads:
// `UPSTREAMS[1].name "reg:5000" must not contain a port …` rather than "Expected number,
// received nan". Every message of the configuration schemas is a predicate ("must …").

import type { z } from "zod";

type Path = (string | number)[];

/** A configuration that cannot work; the message lists every problem (see src/config.ts). */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[] | string) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(`invalid Berth configuration (wrangler.toml [vars] and secrets): ${list.join("; ")}`);
    this.problems = list;
  }
}

/** `UPSTREAMS[1].aliases[0]` */
export function fieldName(root: string, path: Path): string {
  return path.reduce<string>((where, part) => (typeof part === "number" ? `${where}[${part}]` : `${where}.${part}`), root);
}

function valueAt(input: unknown, path: Path): unknown {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[part];
  }
  return value;
}

/** A short rendering of a scalar value, or "" for objects, arrays and absent values. */
function shown(value: unknown): string {
  if (typeof value === "string") return ` ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  if (typeof value === "number" || typeof value === "boolean") return ` ${String(value)}`;
  return "";
}

const ARTICLE: Record<string, string> = { array: "a list", object: "an object", string: "a string", number: "a number", boolean: "true or false", integer: "a whole number", float: "a fraction", nan: "not a number" };

function predicate(issue: z.ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      if (issue.received === "undefined") return "is required";
      return `must be ${ARTICLE[issue.expected] ?? issue.expected}, not ${ARTICLE[issue.received] ?? issue.received}`;
    case "unrecognized_keys":
      return `has unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")} (a typo? credentials go in secrets named by usernameSecret/passwordSecret)`;
    case "invalid_enum_value":
      return `must be one of ${issue.options.map((option) => JSON.stringify(option)).join(", ")}`;
    case "too_small":
      if (issue.type === "array") return issue.message.startsWith("must") ? issue.message : `must list at least ${String(issue.minimum)}`;
      if (issue.type === "string") return "must not be empty";
      return `must be at least ${String(issue.minimum)}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    case "not_finite":
      return "must be a number";
    default:
      return issue.message.startsWith("must") || issue.message.startsWith("is ") ? issue.message : `is invalid (${issue.message})`;
  }
}

/** For a union (e.g. "a number, or a string like 7d"), the branch that got furthest speaks. */
function flatten(issues: z.ZodIssue[]): z.ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== "invalid_union") return [issue];
    const branches = issue.unionErrors.map((error) => error.issues);
    const meaningful = branches.find((branch) => branch.some((inner) => inner.code !== "invalid_type"));
    if (meaningful) return flatten(meaningful.filter((inner) => inner.code !== "invalid_type"));
    const expected = branches.flatMap((branch) => branch.map((inner) => (inner.code === "invalid_type" ? ARTICLE[inner.expected] ?? inner.expected : "")));
    return [{ ...issue, code: "custom", message: `must be ${[...new Set(expected.filter(Boolean))].join(" or ")}` } as z.ZodIssue];
  });
}

/**
 * One sentence per problem, naming the field from `root` (the variable's name). Values are
 * quoted unless `secret` (never echo a secret).
 */
export function describeIssues(root: string, error: z.ZodError, input: unknown, { secret = false } = {}): string[] {
  return flatten(error.issues).map((issue) => {
    const value = secret || issue.code === "unrecognized_keys" ? "" : shown(valueAt(input, issue.path));
    return `${fieldName(root, issue.path)}${value} ${predicate(issue)}`;
  });
}
