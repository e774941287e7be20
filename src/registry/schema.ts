// SQLite schema of one RepositoryDO. Reference counts live beside the rows
// they count and change in the same transaction, so they cannot drift.
export const REPOSITORY_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (
  tag TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  origin TEXT NOT NULL DEFAULT 'push' CHECK (origin IN ('push', 'upstream'))
);
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags(digest);
CREATE TABLE IF NOT EXISTS manifests (
  digest TEXT PRIMARY KEY,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  subject TEXT,
  artifact_type TEXT,
  annotations TEXT,
  created_at INTEGER NOT NULL,
  last_pulled_at INTEGER
);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(subject);
-- Referrers are paged in digest order (listing-pages.ts).
CREATE INDEX IF NOT EXISTS manifests_by_subject_digest ON manifests(subject, digest);
CREATE TABLE IF NOT EXISTS manifest_chunks (
  digest TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (digest, seq)
);
CREATE TABLE IF NOT EXISTS manifest_refs (
  parent TEXT NOT NULL,
  child TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  PRIMARY KEY (parent, child, kind)
);
CREATE INDEX IF NOT EXISTS manifest_refs_by_child ON manifest_refs(child, kind);
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  r2_key TEXT NOT NULL,
  refcount INTEGER NOT NULL DEFAULT 0,
  linked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  busy_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tag TEXT NOT NULL,
  previous_digest TEXT,
  new_digest TEXT,
  at INTEGER NOT NULL,
  actor TEXT
);
CREATE INDEX IF NOT EXISTS tag_history_by_tag ON tag_history(tag, id);
CREATE TABLE IF NOT EXISTS cache_tags (
  tag TEXT PRIMARY KEY,
  validated_at INTEGER NOT NULL
);
`;

/**
 * Tags remember where they came from: 'push' (a client pushed it) or 'upstream' (the cache
 * stored it). A cache never serves a pushed tag: when a host is configured as an upstream after
 * somebody pushed `<host>/…` here, those tags are not served as the upstream's.
 * Repositories created before the column existed: a tag the cache has validated is an upstream
 * tag; every other tag was pushed.
 */
export function migrateTagOrigin(sql: SqlStorage): void {
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(tags)").toArray();
  if (columns.some((column) => column.name === "origin")) return;
  sql.exec("ALTER TABLE tags ADD COLUMN origin TEXT NOT NULL DEFAULT 'push' CHECK (origin IN ('push', 'upstream'))");
  sql.exec("UPDATE tags SET origin = 'upstream' WHERE tag IN (SELECT tag FROM cache_tags)");
}
