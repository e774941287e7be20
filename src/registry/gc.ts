// The global half of a blob release, run by the RepositoryDO (its alarm, and
// right after an explicit blob DELETE): drains the `blob_unlinks` outbox by
// asking each blob's BlobIndexDO to drop this repository's link. See
// blob-release.ts for the crash-safety argument.

import { blobIndexStub } from "./blob-index-do";
import { dueUnlinks, isLinked, releaseDueLinks } from "./blob-release";

/** Releases handled per alarm run; the alarm re-arms itself when more are due. */
export const RELEASE_BATCH = 200;
/** BlobIndexDO calls in flight at once. */
const CONCURRENCY = 8;
/** First retry delay after a failed BlobIndexDO call; doubles per attempt up to RETRY_MAX_MS. */
const RETRY_MS = 30 * 1000;
const RETRY_MAX_MS = 60 * 60 * 1000;

export interface ReleaseRun {
  /** Local links dropped because their grace window passed. */
  released: string[];
  /** Global links dropped. */
  unlinked: number;
  /** Global releases postponed because the link was refreshed recently. */
  deferred: number;
  /** Global releases that failed and will be retried. */
  failed: number;
}

/** Runs both halves: due local links are dropped, then due global releases are sent. */
export async function runBlobRelease(storage: DurableObjectStorage, env: Env, repository: string, graceMs: number): Promise<ReleaseRun> {
  const released = storage.transactionSync(() => releaseDueLinks(storage.sql, Date.now(), graceMs, RELEASE_BATCH));
  const drained = await drainUnlinks(storage.sql, env, repository, graceMs, dueUnlinks(storage.sql, Date.now(), RELEASE_BATCH));
  return { released, ...drained };
}

/** Sends the global releases for `digests` (rows of the outbox). */
export async function drainUnlinks(
  sql: SqlStorage,
  env: Env,
  repository: string,
  graceMs: number,
  digests: string[],
): Promise<Omit<ReleaseRun, "released">> {
  const tally = { unlinked: 0, deferred: 0, failed: 0 };
  for (let at = 0; at < digests.length; at += CONCURRENCY) {
    await Promise.all(digests.slice(at, at + CONCURRENCY).map((digest) => drainOne(sql, env, repository, graceMs, digest, tally)));
  }
  return tally;
}

async function drainOne(
  sql: SqlStorage,
  env: Env,
  repository: string,
  graceMs: number,
  digest: string,
  tally: { unlinked: number; deferred: number; failed: number },
): Promise<void> {
  // Linked again since the local half ran: that link owns the global link now.
  if (isLinked(sql, digest)) {
    sql.exec("DELETE FROM blob_unlinks WHERE digest = ?", digest);
    return;
  }
  try {
    const outcome = await blobIndexStub(env, digest).release(repository);
    if (outcome === "fresh") {
      tally.deferred++;
      sql.exec("UPDATE blob_unlinks SET next_at = ?, attempts = attempts + 1 WHERE digest = ?", Date.now() + Math.max(graceMs, 1000), digest);
      return;
    }
    tally.unlinked++;
    sql.exec("DELETE FROM blob_unlinks WHERE digest = ?", digest);
  } catch (error) {
    tally.failed++;
    console.warn("blob release failed; will retry", repository, digest, String(error));
    const attempts = sql.exec<{ attempts: number }>("SELECT attempts FROM blob_unlinks WHERE digest = ?", digest).toArray()[0]?.attempts ?? 0;
    const delay = Math.min(RETRY_MS * 2 ** Math.min(attempts, 10), RETRY_MAX_MS);
    sql.exec("UPDATE blob_unlinks SET next_at = ?, attempts = attempts + 1 WHERE digest = ?", Date.now() + delay, digest);
  }
}

/** Arms the alarm for `due` unless it is already set earlier (and still in the future). */
export async function armAlarm(storage: DurableObjectStorage, due: number): Promise<void> {
  const now = Date.now();
  const current = await storage.getAlarm();
  if (current === null || current > due || current < now) await storage.setAlarm(Math.max(due, now));
}
