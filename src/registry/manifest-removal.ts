// Deleting a manifest by digest, as one step inside a RepositoryDO
// transaction: the manifest, every tag on it, and — when
// REFERRERS_ON_SUBJECT_DELETE is "delete" — the manifests whose subject it is
// (signatures, SBOMs, attestations), recursively. A manifest that an index in
// the same repository lists is refused (409): delete the index first, so a
// tagged multi-arch image can never lose a platform. Referrers that an index
// lists are kept for the same reason.

import { fail, ok, type Result } from "../http/errors";
import { findManifest, removeManifest } from "./manifest-table";
import { removeTag, tagsOf } from "./tag-table";

export type ReferrersRule = "keep" | "delete";

export interface Removed {
  digest: string;
  tags: string[];
}

export function deleteManifestByDigest(sql: SqlStorage, digest: string, now: number, actor: string | null, referrers: ReferrersRule): Result<Removed[]> {
  if (!findManifest(sql, digest)) return fail("MANIFEST_UNKNOWN", `manifest ${digest} is unknown`);
  const first = removeOne(sql, digest, now, actor);
  if (!first.ok) return first;
  const removed = [first.value];
  if (referrers === "delete") {
    const subjects = [digest];
    for (let subject = subjects.shift(); subject !== undefined; subject = subjects.shift()) {
      const children = sql.exec<{ digest: string }>("SELECT digest FROM manifests WHERE subject = ? ORDER BY digest", subject).toArray();
      for (const child of children) {
        const gone = removeOne(sql, child.digest, now, actor);
        if (!gone.ok) continue;
        removed.push(gone.value);
        subjects.push(child.digest);
      }
    }
  }
  return ok(removed);
}

function removeOne(sql: SqlStorage, digest: string, now: number, actor: string | null): Result<Removed> {
  const removed = removeManifest(sql, digest);
  if (!removed.ok) return removed;
  const tags = tagsOf(sql, digest);
  for (const tag of tags) removeTag(sql, tag, now, actor);
  return ok({ digest, tags });
}
