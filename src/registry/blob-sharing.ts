// Who else uses the blobs of one manifest, inside one repository: how many
// manifests reference each blob (the reference count the lifecycle releases
// by) and a few of those other manifests with the tags that reach them. The
// image page shows this as "shared"; the JSON API derives "would free" from it.

import { tagsOf } from "./tag-table";

/** Other manifests listed per blob; the count stays exact beyond it. */
export const MAX_LISTED_USERS = 8;

export interface ManifestUser {
  digest: string;
  /** Tags on the manifest itself, or else on the indexes that list it. */
  tags: string[];
}

export interface BlobSharing {
  digest: string;
  /** Manifests in this repository that reference the blob (this one included). */
  refcount: number;
  /** Whether the blob is linked here at all (a manifest may name a blob a cache has not fetched yet). */
  linked: boolean;
  others: ManifestUser[];
}

export interface ImageSharing {
  blobs: BlobSharing[];
  /** Indexes in this repository that list the manifest (it cannot be deleted before them). */
  listedBy: ManifestUser[];
}

export function imageSharing(sql: SqlStorage, manifest: string, blobs: readonly string[]): ImageSharing {
  const listedBy = sql
    .exec<{ parent: string }>("SELECT parent FROM manifest_refs WHERE child = ? AND kind = 'manifest' ORDER BY parent LIMIT ?", manifest, MAX_LISTED_USERS)
    .toArray()
    .map((row) => ({ digest: row.parent, tags: tagsOf(sql, row.parent) }));
  return { blobs: blobSharing(sql, manifest, blobs), listedBy };
}

function blobSharing(sql: SqlStorage, manifest: string, blobs: readonly string[]): BlobSharing[] {
  return blobs.map((digest) => {
    const link = sql.exec<{ refcount: number }>("SELECT refcount FROM blobs WHERE digest = ?", digest).toArray()[0];
    const users = sql
      .exec<{ parent: string }>("SELECT parent FROM manifest_refs WHERE child = ? AND kind = 'blob' AND parent != ? ORDER BY parent LIMIT ?", digest, manifest, MAX_LISTED_USERS)
      .toArray()
      .map((row) => ({ digest: row.parent, tags: reachingTags(sql, row.parent) }));
    const counted = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM manifest_refs WHERE child = ? AND kind = 'blob'", digest).one().n;
    return { digest, refcount: link?.refcount ?? counted, linked: link !== undefined, others: users };
  });
}

function reachingTags(sql: SqlStorage, digest: string): string[] {
  const own = tagsOf(sql, digest);
  if (own.length > 0) return own;
  const parents = sql
    .exec<{ parent: string }>("SELECT parent FROM manifest_refs WHERE child = ? AND kind = 'manifest' ORDER BY parent LIMIT ?", digest, MAX_LISTED_USERS)
    .toArray();
  return [...new Set(parents.flatMap((row) => tagsOf(sql, row.parent)))].sort();
}

export interface RepositorySummary {
  tags: number;
  manifests: number;
  /** Last tag move or manifest push, epoch ms; null for an empty repository. */
  updatedAt: number | null;
}

export function repositorySummary(sql: SqlStorage): RepositorySummary {
  const tags = sql.exec<{ n: number; at: number | null }>("SELECT COUNT(*) AS n, MAX(updated_at) AS at FROM tags").one();
  const manifests = sql.exec<{ n: number; at: number | null }>("SELECT COUNT(*) AS n, MAX(created_at) AS at FROM manifests").one();
  const moved = sql.exec<{ at: number | null }>("SELECT MAX(at) AS at FROM tag_history").one().at;
  const times = [tags.at, manifests.at, moved].filter((t): t is number => t !== null);
  return { tags: tags.n, manifests: manifests.n, updatedAt: times.length ? Math.max(...times) : null };
}
