// fsck checks one RepositoryDO can make on its own SQLite state, in SQL
// (nothing is loaded whole): reference counts equal a recount of
// manifest_refs, every reference points at something present, tags point at
// manifests, manifest bytes are complete, and every unreferenced link is on
// its way out. `repair` fixes counts, tags and schedules; what it cannot fix
// (a missing manifest, damaged bytes) is only reported.

import { markUnreferenced } from "./blob-release";
import { removeTag } from "./tag-table";

export type FsckProblemKind =
  | "refcount-mismatch"
  | "reference-to-missing-blob"
  | "reference-to-missing-manifest"
  | "tag-to-missing-manifest"
  | "manifest-bytes-damaged"
  | "unreferenced-link-unscheduled"
  | "release-overdue"
  | "link-unknown-to-blob-index"
  | "key-mismatch"
  | "missing-from-storage"
  | "size-mismatch"
  | "leaked-link"
  | "untracked-object"
  | "unreferenced-object-overdue"
  | "abandoned-upload-data";

export interface FsckProblem {
  kind: FsckProblemKind;
  repository?: string;
  digest?: string;
  tag?: string;
  key?: string;
  detail: string;
  /** fsck knows how to fix it (with ?repair=1). */
  repairable: boolean;
  /** It was fixed in this run. */
  repaired: boolean;
}

/**
 * Work this much past its due time (a release, a deletion, an in-flight
 * writer's registration) counts as lost rather than late: the grace window
 * itself, at least a second and at most five minutes.
 */
export function overdueSlackMs(graceMs: number): number {
  return Math.min(5 * 60 * 1000, Math.max(graceMs, 1000));
}
/** Problems reported per repository and kind; the counts stay exact. */
const MAX_LISTED = 100;

export interface LocalCheck {
  problems: FsckProblem[];
  /** Exact number of problems per kind (the list is capped). */
  counts: Partial<Record<FsckProblemKind, number>>;
  /** Referenced blobs with no local link; the caller may relink them from the blob index. */
  missingBlobs: string[];
  manifests: number;
  tags: number;
  blobs: number;
}

export interface LocalCheckOptions {
  repair: boolean;
  /** Cached repositories store manifests before their blobs and children: absent references are normal. */
  lazyReferences: boolean;
  now: number;
  graceMs: number;
}

export function checkRepository(sql: SqlStorage, options: LocalCheckOptions): LocalCheck {
  const check: LocalCheck = {
    problems: [],
    counts: {},
    missingBlobs: [],
    manifests: count(sql, "SELECT count(*) AS n FROM manifests"),
    tags: count(sql, "SELECT count(*) AS n FROM tags"),
    blobs: count(sql, "SELECT count(*) AS n FROM blobs"),
  };
  const report = (problem: Omit<FsckProblem, "repaired" | "repairable"> & { repairable?: boolean }): boolean => {
    check.counts[problem.kind] = (check.counts[problem.kind] ?? 0) + 1;
    const repairable = problem.repairable ?? true;
    if ((check.counts[problem.kind] ?? 0) <= MAX_LISTED) check.problems.push({ ...problem, repairable, repaired: options.repair && repairable });
    return options.repair && repairable;
  };

  for (const row of sql.exec<{ digest: string; refcount: number; actual: number }>(
    `SELECT b.digest, b.refcount, (SELECT count(*) FROM manifest_refs r WHERE r.child = b.digest AND r.kind = 'blob') AS actual
     FROM blobs b WHERE b.refcount != (SELECT count(*) FROM manifest_refs r WHERE r.child = b.digest AND r.kind = 'blob')`,
  ).toArray()) {
    const fix = report({ kind: "refcount-mismatch", digest: row.digest, detail: `count is ${row.refcount}, manifests reference it ${row.actual} time(s)` });
    if (fix) {
      sql.exec("UPDATE blobs SET refcount = ? WHERE digest = ?", row.actual, row.digest);
      if (row.actual === 0) markUnreferenced(sql, [row.digest], options.now);
      else sql.exec("DELETE FROM blob_release WHERE digest = ?", row.digest);
    }
  }

  if (!options.lazyReferences) {
    for (const row of sql.exec<{ child: string; parent: string }>(
      `SELECT r.child, min(r.parent) AS parent FROM manifest_refs r
       WHERE r.kind = 'blob' AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = r.child) GROUP BY r.child`,
    )) {
      // Repaired by the caller when the blob index still has the blob.
      report({ kind: "reference-to-missing-blob", digest: row.child, detail: `manifest ${row.parent} references a blob this repository does not link`, repairable: false });
      check.missingBlobs.push(row.child);
    }
    for (const row of sql.exec<{ child: string; parent: string }>(
      `SELECT r.child, min(r.parent) AS parent FROM manifest_refs r
       WHERE r.kind = 'manifest' AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = r.child) GROUP BY r.child`,
    )) {
      report({ kind: "reference-to-missing-manifest", digest: row.child, detail: `index ${row.parent} lists a manifest this repository does not have`, repairable: false });
    }
  }

  for (const row of sql.exec<{ tag: string; digest: string }>("SELECT t.tag, t.digest FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = t.digest)").toArray()) {
    if (report({ kind: "tag-to-missing-manifest", tag: row.tag, digest: row.digest, detail: `tag points at a manifest that is not stored; repair removes the tag` })) {
      removeTag(sql, row.tag, options.now, "fsck");
    }
  }

  for (const row of sql.exec<{ digest: string; size: number; stored: number | null }>(
    `SELECT m.digest, m.size, (SELECT sum(length(c.bytes)) FROM manifest_chunks c WHERE c.digest = m.digest) AS stored
     FROM manifests m WHERE m.size IS NOT (SELECT sum(length(c.bytes)) FROM manifest_chunks c WHERE c.digest = m.digest)`,
  )) {
    report({ kind: "manifest-bytes-damaged", digest: row.digest, detail: `manifest is ${row.size} bytes but ${row.stored ?? 0} are stored`, repairable: false });
  }

  for (const row of sql.exec<{ digest: string }>(
    "SELECT b.digest FROM blobs b WHERE b.refcount <= 0 AND NOT EXISTS (SELECT 1 FROM blob_release r WHERE r.digest = b.digest)",
  ).toArray()) {
    if (report({ kind: "unreferenced-link-unscheduled", digest: row.digest, detail: "no manifest references this blob and no release is scheduled" })) {
      markUnreferenced(sql, [row.digest], options.now);
    }
  }

  const slack = overdueSlackMs(options.graceMs);
  const overdue = options.now - options.graceMs - slack;
  for (const row of sql.exec<{ digest: string; since: number }>("SELECT digest, since FROM blob_release WHERE since < ?", overdue).toArray()) {
    report({ kind: "release-overdue", digest: row.digest, detail: `unreferenced since ${new Date(row.since).toISOString()}; its release alarm did not run` });
  }
  for (const row of sql.exec<{ digest: string; next_at: number }>("SELECT digest, next_at FROM blob_unlinks WHERE next_at < ?", options.now - slack).toArray()) {
    report({ kind: "release-overdue", digest: row.digest, detail: `global release queued for ${new Date(row.next_at).toISOString()} did not run` });
  }
  return check;
}

function count(sql: SqlStorage, query: string): number {
  return sql.exec<{ n: number }>(query).one().n;
}
