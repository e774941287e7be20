// Tags of one repository and the history of every tag move.

import type { TagMove } from "./repository";

export type { TagMove };

export function tagDigest(sql: SqlStorage, tag: string): string | undefined {
  return sql.exec<{ digest: string }>("SELECT digest FROM tags WHERE tag = ?", tag).toArray()[0]?.digest;
}

/** Points `tag` at `digest`, recording the move when it changes anything. */
export function setTag(sql: SqlStorage, tag: string, digest: string, now: number, actor: string | null): void {
  const previous = tagDigest(sql, tag) ?? null;
  if (previous === digest) return;
  sql.exec(
    "INSERT INTO tags (tag, digest, updated_at) VALUES (?, ?, ?) ON CONFLICT(tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
    tag,
    digest,
    now,
  );
  recordMove(sql, { tag, previousDigest: previous, newDigest: digest, at: now, actor });
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

export function listTags(sql: SqlStorage, limit: number, last: string | undefined): { tags: string[]; more: boolean } {
  const rows = sql.exec<{ tag: string }>("SELECT tag FROM tags WHERE tag > ? ORDER BY tag LIMIT ?", last ?? "", limit + 1).toArray();
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
