// The repository half of blob garbage collection: when a blob linked into a
// repository stops being referenced by any of its manifests (or was uploaded
// and never referenced), the repository drops its link once the grace window
// has passed, then tells the blob's BlobIndexDO; the BlobIndexDO deletes the
// R2 object once no repository links it (see blob-index-do.ts).
//
// Crash safety. The invariant is: a local link (a `blobs` row here) implies a
// global link (a `links` row in the blob's BlobIndexDO), which keeps the R2
// object. Every step below keeps it, whichever request, alarm or Durable
// Object dies at whichever await:
//
// 1. Linking is global before local: register()/linkExisting() run before
//    RepositoryDO.linkBlob(). A crash between leaves a global link nobody
//    holds locally: garbage that fsck repairs (or a later release clears).
// 2. Unlinking is local before global, and the two halves are joined by an
//    outbox. One SQLite transaction checks the count is still 0, deletes the
//    local row and inserts a `blob_unlinks` row; the global release is then
//    retried from that row (alarm) until it is done. A crash between the
//    halves leaves the outbox row, so the global link is released later —
//    never lost, never a dangling local link.
// 3. The global release is conditional: BlobIndexDO.release() refuses while
//    the repository's global link is younger than the grace window. A writer
//    that just registered the blob for this repository (register → linkBlob
//    is one request, milliseconds apart) has refreshed that link, so a
//    release that raced it cannot remove the link the writer is about to
//    rely on; the outbox retries once the link has aged, and drops the retry
//    if a local link exists again by then.
// 4. Reference counts, the `blob_release` marks and the manifests they count
//    change in one transaction (manifest-table.ts), and a release re-checks
//    the count inside the transaction that deletes the row, so a manifest
//    pushed during the grace window cancels the release.
// 5. The R2 object is deleted only by the BlobIndexDO's alarm: no links, no
//    live writer pins, grace passed; the record goes first and the key is
//    kept as a stray key until R2 confirms the delete.
// Hence a manifest's blobs are linked locally (enforced at PUT), so linked
// globally, so present in R2. At most garbage remains after a crash.

/** Per-repository release bookkeeping (created beside REPOSITORY_SCHEMA). */
export const BLOB_RELEASE_SCHEMA = `
CREATE TABLE IF NOT EXISTS blob_release (digest TEXT PRIMARY KEY, since INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS blob_release_by_since ON blob_release(since);
CREATE TABLE IF NOT EXISTS blob_unlinks (digest TEXT PRIMARY KEY, next_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS blob_unlinks_by_next ON blob_unlinks(next_at);
`;

/** Accesses refresh an unreferenced blob's window at most once a minute (a quarter window if shorter). */
export function touchResolutionMs(graceMs: number): number {
  return Math.min(60 * 1000, graceMs / 4);
}

/** Starts (or restarts) the grace window of every blob among `digests` that is linked and unreferenced. */
export function markUnreferenced(sql: SqlStorage, digests: Iterable<string>, now: number): void {
  for (const digest of digests) {
    sql.exec(
      `INSERT INTO blob_release (digest, since) SELECT digest, ? FROM blobs WHERE digest = ? AND refcount <= 0
       ON CONFLICT(digest) DO UPDATE SET since = excluded.since`,
      now,
      digest,
    );
  }
}

/** A manifest now references the blob: no release is pending for it. */
export function markReferenced(sql: SqlStorage, digest: string): void {
  sql.exec("DELETE FROM blob_release WHERE digest = ?", digest);
}

/** A client asked for an unreferenced blob (a push checking whether to upload it): keep it a while longer. */
export function touchUnreferenced(sql: SqlStorage, digest: string, now: number, graceMs: number): void {
  sql.exec("UPDATE blob_release SET since = ? WHERE digest = ? AND since < ?", now, digest, now - touchResolutionMs(graceMs));
}

/** A (re)linked blob owns its global link again: a queued global release must not run. */
export function cancelUnlink(sql: SqlStorage, digest: string): void {
  sql.exec("DELETE FROM blob_unlinks WHERE digest = ?", digest);
}

/** Drops a local link now and queues its global release (explicit blob DELETE). Caller checked the count. */
export function dropLink(sql: SqlStorage, digest: string, now: number): void {
  sql.exec("DELETE FROM blobs WHERE digest = ?", digest);
  sql.exec("DELETE FROM blob_release WHERE digest = ?", digest);
  sql.exec(
    "INSERT INTO blob_unlinks (digest, next_at) VALUES (?, ?) ON CONFLICT(digest) DO UPDATE SET next_at = excluded.next_at, attempts = 0",
    digest,
    now,
  );
}

/**
 * Local half of a release: drops the links whose grace window has passed and
 * that are still unreferenced, queueing each global release. Must run inside
 * a transaction (the caller's transactionSync). Returns the released digests.
 */
export function releaseDueLinks(sql: SqlStorage, now: number, graceMs: number, limit: number): string[] {
  const due = sql
    .exec<{ digest: string; refcount: number | null }>(
      "SELECT r.digest, b.refcount FROM blob_release r LEFT JOIN blobs b ON b.digest = r.digest WHERE r.since <= ? ORDER BY r.since LIMIT ?",
      now - graceMs,
      limit,
    )
    .toArray();
  const released: string[] = [];
  for (const row of due) {
    if (row.refcount === null || row.refcount > 0) {
      sql.exec("DELETE FROM blob_release WHERE digest = ?", row.digest);
      continue;
    }
    dropLink(sql, row.digest, now);
    released.push(row.digest);
  }
  return released;
}

/** Global releases whose (next) attempt is due. */
export function dueUnlinks(sql: SqlStorage, now: number, limit: number): string[] {
  return sql
    .exec<{ digest: string }>("SELECT digest FROM blob_unlinks WHERE next_at <= ? ORDER BY next_at LIMIT ?", now, limit)
    .toArray()
    .map((r) => r.digest);
}

export function isLinked(sql: SqlStorage, digest: string): boolean {
  return sql.exec("SELECT 1 FROM blobs WHERE digest = ?", digest).toArray().length > 0;
}

/** When the next release or global unlink is due, or null when nothing is pending. */
export function nextReleaseDue(sql: SqlStorage, graceMs: number): number | null {
  const since = sql.exec<{ at: number | null }>("SELECT min(since) AS at FROM blob_release").one().at;
  const next = sql.exec<{ at: number | null }>("SELECT min(next_at) AS at FROM blob_unlinks").one().at;
  const candidates = [since === null ? null : since + graceMs, next].filter((t): t is number => t !== null);
  return candidates.length ? Math.min(...candidates) : null;
}

export interface PendingReleases {
  /** Linked blobs no manifest references, waiting for their grace window. */
  waiting: number;
  /** Local links already dropped whose global release is queued. */
  unlinking: number;
}

export function pendingReleases(sql: SqlStorage): PendingReleases {
  return {
    waiting: sql.exec<{ n: number }>("SELECT count(*) AS n FROM blob_release").one().n,
    unlinking: sql.exec<{ n: number }>("SELECT count(*) AS n FROM blob_unlinks").one().n,
  };
}
