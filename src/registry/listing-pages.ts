// Lists a RepositoryDO hands out, one bounded page per call. A Durable Object
// RPC answer is capped at 32 MiB, so no list that grows with the repository
// (tags, dangling manifests, a subject's referrers) is ever returned whole:
// each page stops at a row count and, where rows can be large (referrers
// carry annotations), at a byte budget. The caller passes `next` back.

import type { TagOrigin } from "./tag-table";
import type { Descriptor } from "../oci/manifest";
import { annotationsOf, toInfo, type ManifestRow } from "./manifest-table";
import type { ManifestInfo, Page, TagDetail } from "./repository";

/** Bytes of referrer descriptors in one page (well under the RPC limit; one oversized entry still goes alone). */
export const REFERRERS_PAGE_BYTES = 4 * 1024 * 1024;

export type DanglingManifest = ManifestInfo & { createdAt: number };

/** Tags after `after` in lexical order, with what they point at. */
/** One page of tags after `after`; only those from `origin` when given (a cache lists only what it stored). */
export function tagDetailsPage(sql: SqlStorage, after: string, limit: number, origin?: TagOrigin): Page<TagDetail> {
  const rows = sql
    .exec<{ tag: string; digest: string; media_type: string; size: number; updated_at: number }>(
      "SELECT t.tag, t.digest, m.media_type, m.size, t.updated_at FROM tags t JOIN manifests m ON m.digest = t.digest WHERE t.tag > ? AND (? IS NULL OR t.origin = ?) ORDER BY t.tag LIMIT ?",
      after,
      origin ?? null,
      origin ?? null,
      limit + 1,
    )
    .toArray();
  const items = rows.slice(0, limit).map((r) => ({ tag: r.tag, digest: r.digest, mediaType: r.media_type, size: r.size, updatedAt: r.updated_at }));
  return { items, next: rows.length > limit ? items.at(-1)?.tag : undefined };
}

/**
 * Manifests no tag names and no index in this repository lists, oldest first.
 * The cursor is `<createdAt>.<digest>` of the last one seen, so a page
 * continues correctly even when that manifest was deleted meanwhile.
 */
export function danglingPage(sql: SqlStorage, after: DanglingCursor | undefined, limit: number): Page<DanglingManifest> {
  const rows = sql
    .exec<ManifestRow>(
      `SELECT * FROM manifests m
       WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.digest = m.digest)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child = m.digest AND r.kind = 'manifest')
         AND (m.created_at > ? OR (m.created_at = ? AND m.digest > ?))
       ORDER BY m.created_at, m.digest LIMIT ?`,
      after?.createdAt ?? -1,
      after?.createdAt ?? -1,
      after?.digest ?? "",
      limit + 1,
    )
    .toArray();
  const items = rows.slice(0, limit).map((row) => ({ ...toInfo(row), createdAt: row.created_at }));
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? formatDanglingCursor(last) : undefined };
}

export interface DanglingCursor {
  createdAt: number;
  digest: string;
}

export function formatDanglingCursor(manifest: DanglingManifest): string {
  return `${manifest.createdAt}.${manifest.digest}`;
}

/** Undefined when `text` is not a cursor danglingPage made. */
export function parseDanglingCursor(text: string): DanglingCursor | undefined {
  const match = /^(\d{1,15})\.(.+)$/.exec(text);
  return match ? { createdAt: Number(match[1]), digest: match[2]! } : undefined;
}

/** Manifests whose subject is `subject`, in digest order, after `after`. */
export function referrersPage(sql: SqlStorage, subject: string, artifactType: string | undefined, after: string, limit: number, maxBytes = REFERRERS_PAGE_BYTES): Page<Descriptor> {
  const rows = sql.exec<{ digest: string; media_type: string; size: number; artifact_type: string | null; annotations: string | null }>(
    `SELECT digest, media_type, size, artifact_type, annotations FROM manifests
     WHERE subject = ? AND digest > ? AND (? IS NULL OR artifact_type = ?)
     ORDER BY digest`,
    subject,
    after,
    artifactType ?? null,
    artifactType ?? null,
  );
  const items: Descriptor[] = [];
  let bytes = 0;
  // Rows are read one at a time: the page ends at `limit` entries or `maxBytes`, whichever comes first.
  for (const row of rows) {
    const descriptor: Descriptor = { mediaType: row.media_type, digest: row.digest, size: row.size };
    if (row.artifact_type) descriptor.artifactType = row.artifact_type;
    const annotations = annotationsOf(sql, row);
    if (annotations) descriptor.annotations = annotations;
    const cost = JSON.stringify(descriptor).length;
    if (items.length === limit || (items.length > 0 && bytes + cost > maxBytes)) {
      return { items, next: items.at(-1)?.digest };
    }
    items.push(descriptor);
    bytes += cost;
  }
  return { items };
}
