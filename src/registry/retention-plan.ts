// One retention policy applied to one repository, inside its RepositoryDO
// (the caller wraps it in a transaction; a dry run rolls that transaction
// back, so what a dry run reports is exactly what a real run would do).
//
// Order: keepTags untags, then (cached repositories) images not pulled for a
// while are evicted, then old untagged manifests are deleted. Nothing that a
// remaining tag names, that an index in the repository lists, or whose
// subject is still present (a signature, an SBOM) is ever deleted; deleting
// an untagged index frees its platform manifests, which the same run then
// considers too.

import { compilePattern } from "./glob";
import { deleteManifestByDigest, type ReferrersRule } from "./manifest-removal";
import type { RetentionPolicy } from "./retention-policy";
import { removeTag } from "./tag-table";

export interface RetentionOptions {
  now: number;
  actor: string | null;
  /** Eviction applies to cached repositories only. */
  cached: boolean;
  referrers: ReferrersRule;
  /** Deletions per run, and untags per run; the rest waits for the next run. */
  maxDeletes: number;
}

export interface RetentionOutcome {
  untagged: { tag: string; digest: string; pattern: string }[];
  deleted: { digest: string; reason: "unpulled" | "untagged" | "referrer"; tags: string[] }[];
  /** True when maxDeletes stopped the run early. */
  truncated: boolean;
}

export function applyPolicy(sql: SqlStorage, policy: RetentionPolicy, options: RetentionOptions): RetentionOutcome {
  const outcome: RetentionOutcome = { untagged: [], deleted: [], truncated: false };
  keepRecentTags(sql, policy, options, outcome);
  if (options.cached && policy.evictUnpulledAfterSeconds !== undefined) {
    const cutoff = options.now - policy.evictUnpulledAfterSeconds * 1000;
    deleteWhile(
      sql,
      `SELECT m.digest FROM manifests m
       WHERE coalesce(m.last_pulled_at, m.created_at) < ?
         AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child = m.digest AND r.kind = 'manifest')
       ORDER BY coalesce(m.last_pulled_at, m.created_at), m.digest LIMIT 100`,
      cutoff,
      "unpulled",
      options,
      outcome,
    );
  }
  if (policy.deleteUntaggedAfterSeconds !== undefined) {
    const cutoff = options.now - policy.deleteUntaggedAfterSeconds * 1000;
    deleteWhile(
      sql,
      `SELECT m.digest FROM manifests m
       WHERE m.created_at < ?
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.digest = m.digest)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child = m.digest AND r.kind = 'manifest')
         AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.digest = m.subject))
       ORDER BY m.created_at, m.digest LIMIT 100`,
      cutoff,
      "untagged",
      options,
      outcome,
    );
  }
  return outcome;
}

/** Per pattern, keeps the `keep` tags that moved most recently and untags the rest. */
function keepRecentTags(sql: SqlStorage, policy: RetentionPolicy, options: RetentionOptions, outcome: RetentionOutcome): void {
  if (policy.keepTags.length === 0) return;
  const tags = sql.exec<{ tag: string; digest: string }>("SELECT tag, digest FROM tags ORDER BY updated_at DESC, tag DESC").toArray();
  const removed = new Set<string>();
  for (const rule of policy.keepTags) {
    const matches = compilePattern(rule.pattern);
    const matching = tags.filter((t) => matches(t.tag));
    for (const stale of matching.slice(rule.keep)) {
      if (removed.has(stale.tag)) continue;
      if (outcome.untagged.length >= options.maxDeletes) {
        outcome.truncated = true;
        return;
      }
      removed.add(stale.tag);
      removeTag(sql, stale.tag, options.now, options.actor);
      outcome.untagged.push({ tag: stale.tag, digest: stale.digest, pattern: rule.pattern });
    }
  }
}

/** Deletes what `query` selects (one cutoff parameter) until it selects nothing new or the budget ends. */
function deleteWhile(sql: SqlStorage, query: string, cutoff: number, reason: "unpulled" | "untagged", options: RetentionOptions, outcome: RetentionOutcome): void {
  const tried = new Set<string>();
  for (;;) {
    const batch = sql.exec<{ digest: string }>(query, cutoff).toArray().filter((r) => !tried.has(r.digest));
    if (batch.length === 0) return;
    for (const { digest } of batch) {
      if (outcome.deleted.length >= options.maxDeletes) {
        outcome.truncated = true;
        return;
      }
      tried.add(digest);
      const removed = deleteManifestByDigest(sql, digest, options.now, options.actor, options.referrers);
      if (!removed.ok) continue;
      removed.value.forEach((r, i) => outcome.deleted.push({ digest: r.digest, reason: i === 0 ? reason : "referrer", tags: r.tags }));
    }
  }
}
