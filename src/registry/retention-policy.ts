// Retention policies as configured in RETENTION_POLICIES (wrangler.toml
// [vars]): a JSON array, or a TOML array of tables. The first policy whose
// `repositories` pattern matches a repository name applies to it.
//
//   [{ "repositories": "ci/**", "keepTags": [{ "pattern": "pr-*", "keep": 5 }], "deleteUntaggedAfter": "7d" },
//    { "repositories": "docker.io/**", "evictUnpulledAfter": "30d" }]

import { z } from "zod";
import { jsonArrayVar } from "../config-json";
import { compilePattern } from "./glob";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** "90s", "30m", "12h", "7d", "2w", or a number of seconds. */
const duration = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+\s*[smhdw]?$/, 'must be a duration such as "45s", "30m", "12h", "7d" or "2w", or a number of seconds')
    .transform((text) => {
      const match = /^(\d+)\s*([smhdw]?)$/.exec(text)!;
      return Number(match[1]) * UNIT_SECONDS[match[2] || "s"]!;
    }),
]);

const PolicySchema = z
  .object({
    /** Repository names this policy covers: `*` within a path segment, `**` across segments. */
    repositories: z.string().min(1),
    /** Per tag pattern, keep the `keep` tags that moved most recently; untag the others. */
    keepTags: z.array(z.object({ pattern: z.string().min(1), keep: z.number().int().nonnegative() }).strict()).default([]),
    /** Delete manifests no tag names (and no index or live subject needs) once they are this old. */
    deleteUntaggedAfter: duration.optional(),
    /** Cached repositories only: evict images not pulled for this long. */
    evictUnpulledAfter: duration.optional(),
  })
  .strict();

export const RetentionPoliciesSchema = jsonArrayVar(PolicySchema);

export interface RetentionPolicy {
  repositories: string;
  keepTags: { pattern: string; keep: number }[];
  deleteUntaggedAfterSeconds?: number;
  evictUnpulledAfterSeconds?: number;
}

export function toPolicies(parsed: z.output<typeof RetentionPoliciesSchema>): RetentionPolicy[] {
  return parsed.map((p) => ({
    repositories: p.repositories,
    keepTags: p.keepTags,
    deleteUntaggedAfterSeconds: p.deleteUntaggedAfter,
    evictUnpulledAfterSeconds: p.evictUnpulledAfter,
  }));
}

/** The policy that applies to `repository`, if any (first match wins). */
export function policyFor(policies: RetentionPolicy[], repository: string): RetentionPolicy | undefined {
  return policies.find((policy) => compilePattern(policy.repositories)(repository));
}
