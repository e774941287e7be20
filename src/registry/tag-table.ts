// Tags of one repository and the history of every tag move.

import type { TagMove } from "./repository";

export type { TagMove };

export function tagDigest(sql: SqlStorage, tag: string): string | undefined {
  return sql.exec<{ digest: string }>("SELECT digest FROM tags WHERE tag = ?", tag).toArray()[0]?.digest;
}

/** Where a tag came from (src/registry/schema.ts migrateTagOrigin). */
export type TagOrigin = "push" | "upstream";

/** Points `tag` at `digest`, recording the move when it changes anything. */
export function setTag(sql: SqlStorage, tag: string, digest: string, now: number, actor: string | null, origin: TagOrigin = "push"): void {
  const previous = sql.exec<{ digest: string; origin: string }>("SELECT digest, origin FROM tags WHERE tag = ?", tag).toArray()[0];
  if (previous?.digest === digest && previous.origin === origin) return;
  sql.exec(
    "INSERT INTO tags (tag, digest, updated_at, origin) VALUES (?, ?, ?, ?) ON CONFLICT(tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at, origin = excluded.origin",
    tag,
    digest,
    now,
    origin,
  );
  if (previous?.digest !== digest) recordMove(sql, { tag, previousDigest: previous?.digest ?? null, newDigest: digest, at: now, actor });
}

/** The tag's digest when it came from `origin`. */
export function tagDigestFrom(sql: SqlStorage, tag: string, origin: TagOrigin): string | undefined {
  return sql.exec<{ digest: string }>("SELECT digest FROM tags WHERE tag = ? AND origin = ?", tag, origin).toArray()[0]?.digest;
}

export function removeTag(sql: SqlStorage, tag: string, now: number, actor: string | null): boolean {
  const previous = tagDigest(sql, tag);
  if (previous === undefined) return false;
  sql.exec("DELETE FROM tags WHERE tag = ?", tag);
  recordMove(sql, { tag, previousDigest: previous, newDigest: null, at: now, actor });
  return true;
}

export function tagsOf(sql: SqlStorage, digest: string): string[] {
  return sql.exec<{ tag: string }>("SELECT tag FROM tags WHERE digest = ? ORDER BY tag", digest).toArray().map((r) => r.tag);
}

/** Tags after `last`; only those from `origin` when given (a cache lists only what it stored). */
export function listTags(sql: SqlStorage, limit: number, last: string | undefined, origin?: TagOrigin): { tags: string[]; more: boolean } {
  const rows = sql
    .exec<{ tag: string }>("SELECT tag FROM tags WHERE tag > ? AND (? IS NULL OR origin = ?) ORDER BY tag LIMIT ?", last ?? "", origin ?? null, origin ?? null, limit + 1)
    .toArray();
  return { tags: rows.slice(0, limit).map((r) => r.tag), more: rows.length > limit };
}

export function tagHistory(sql: SqlStorage, tag: string | undefined, limit: number): TagMove[] {
  const rows = sql
    .exec<{ tag: string; previous_digest: string | null; new_digest: string | null; at: number; actor: string | null }>(
      tag === undefined
        ? "SELECT * FROM tag_history ORDER BY id DESC LIMIT ?"
        : "SELECT * FROM tag_history WHERE tag = ? ORDER BY id DESC LIMIT ?",
      ...(tag === undefined ? [limit] : [tag, limit]),
    )
    .toArray();
  return rows.map((r) => ({ tag: r.tag, previousDigest: r.previous_digest, newDigest: r.new_digest, at: r.at, actor: r.actor }));
}

function recordMove(sql: SqlStorage, move: TagMove): void {
  sql.exec(
    "INSERT INTO tag_history (tag, previous_digest, new_digest, at, actor) VALUES (?, ?, ?, ?, ?)",
    move.tag,
    move.previousDigest,
    move.newDigest,
    move.at,
    move.actor,
  );
}
