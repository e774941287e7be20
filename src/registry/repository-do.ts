// One Durable Object per repository name: the single writer of its tags,
// manifests, blob links with reference counts, upload sessions and tag
// history. Methods return Result values for client errors (thrown errors do
// not keep their type across RPC); HostedRepository turns them into OciErrors.

import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config";
import { fail, ok, type Result } from "../http/errors";
import { looksLikeDigest } from "../oci/digest";
import type { Descriptor } from "../oci/manifest";
import { imageSharing, repositorySummary, type ImageSharing, type RepositorySummary } from "./blob-sharing";
import { BLOB_RELEASE_SCHEMA, cancelUnlink, dropLink, markUnreferenced, nextReleaseDue, pendingReleases, touchUnreferenced, type PendingReleases } from "./blob-release";
import { checkRepository, type LocalCheck } from "./fsck-local";
import { armAlarm, drainUnlinks, runBlobRelease, type ReleaseRun } from "./gc";
import { checkReferences, findManifest, insertManifest, readManifestBytes, toInfo, type ManifestRow, type ManifestWrite } from "./manifest-table";
import { MAX_LIST_PAGE, MAX_TAGS_PER_REPOSITORY } from "./limits";
import { danglingPage, parseDanglingCursor, referrersPage, tagDetailsPage, type DanglingManifest } from "./listing-pages";
import { deleteManifestByDigest } from "./manifest-removal";
import { applyPolicy, type RetentionOutcome } from "./retention-plan";
import type { RetentionPolicy } from "./retention-policy";
import type { RepositoryUsage } from "./usage";
import type { ManifestContent, ManifestInfo, Page, TagDetail } from "./repository";
import { REPOSITORY_SCHEMA, migrateTagOrigin } from "./schema";
import { listTags, removeTag, setTag, tagDigest, tagDigestFrom, tagHistory, type TagMove, type TagOrigin } from "./tag-table";
import type { UploadSession } from "./upload-session";
import { deleteUploadData } from "./upload-writer";

/** A blob linked into this repository. */
export interface BlobLink {
  digest: string;
  size: number;
  key: string;
  refcount: number;
}

/** Blobs one sharing question may ask about (a manifest has config + layers; Docker caps layers at 127). */
const MAX_SHARING_BLOBS = 512;
/** A PATCH holds its session at most this long; a crashed request frees it after that. */
const APPEND_LEASE_MS = 15 * 60 * 1000;
/** Pull times are recorded at this resolution, so pulls rarely write. */
const PULL_STAMP_RESOLUTION_MS = 60 * 60 * 1000;

export interface PutManifestOutcome extends ManifestInfo {
  /** True when the repository should be (re)announced to the catalog. */
  firstManifest: boolean;
}

export class RepositoryDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(REPOSITORY_SCHEMA);
    migrateTagOrigin(this.sql);
    this.sql.exec(BLOB_RELEASE_SCHEMA);
    // An alarm wakes the object without its name, and the blob index keys links by name: keep it.
    if (ctx.id.name) this.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('name', ?)", ctx.id.name);
  }

  // ── manifests ──────────────────────────────────────────────────────────

  async resolve(reference: string): Promise<Result<ManifestInfo>> {
    const row = this.manifestRow(reference);
    if (!row.ok) return row;
    return ok(toInfo(row.value));
  }

  async getManifest(reference: string): Promise<Result<ManifestContent>> {
    const row = this.manifestRow(reference);
    if (!row.ok) return row;
    const manifest = row.value;
    const now = Date.now();
    if (!manifest.last_pulled_at || now - manifest.last_pulled_at > PULL_STAMP_RESOLUTION_MS) {
      this.sql.exec("UPDATE manifests SET last_pulled_at = ? WHERE digest = ?", now, manifest.digest);
    }
    return ok({ ...toInfo(manifest), bytes: readManifestBytes(this.sql, manifest.digest, manifest.size) });
  }

  async putManifest(write: ManifestWrite, tags: string[], actor: string | null): Promise<Result<PutManifestOutcome>> {
    return this.ctx.storage.transactionSync(() => {
      const hadManifests = this.exists("manifests");
      const now = Date.now();
      const room = this.roomForTags(tags);
      if (!room.ok) return room;
      if (!findManifest(this.sql, write.digest)) {
        const references = checkReferences(this.sql, write);
        if (!references.ok) return references;
        insertManifest(this.sql, write, now);
      }
      for (const tag of tags) setTag(this.sql, tag, write.digest, now, actor);
      return ok({ digest: write.digest, mediaType: write.mediaType, size: write.bytes.length, subject: write.subject, firstManifest: !hadManifests });
    });
  }

  /** Untags (reference is a tag) or deletes a manifest and every tag on it (reference is a digest). */
  async deleteManifest(reference: string, actor: string | null): Promise<Result<{ emptied: boolean }>> {
    const result = this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      if (!looksLikeDigest(reference)) {
        if (!removeTag(this.sql, reference, now, actor)) return fail<{ emptied: boolean }>("MANIFEST_UNKNOWN", `tag "${reference}" is unknown`);
        return ok({ emptied: false });
      }
      const removed = deleteManifestByDigest(this.sql, reference, now, actor, loadConfig(this.env).referrersOnSubjectDelete);
      if (!removed.ok) return removed;
      return ok({ emptied: !this.exists("manifests") });
    });
    await this.scheduleBlobRelease();
    return result;
  }

  async listTags(limit: number, last: string | undefined, origin?: TagOrigin): Promise<Result<{ tags: string[]; more: boolean }>> {
    if (!this.exists("manifests") && !this.exists("tags")) return fail("NAME_UNKNOWN", "repository is unknown");
    return ok(listTags(this.sql, limit, last, origin));
  }

  /** One page of tags with what they point at, for the JSON API; only those from `origin` when given. */
  async tagDetails(after: string, limit: number, origin?: TagOrigin): Promise<Page<TagDetail>> {
    return tagDetailsPage(this.sql, after, clampPage(limit), origin);
  }

  /** One page of the manifests no tag names and no index in this repository lists ("dangling" images). */
  async danglingManifests(after: string | undefined, limit: number): Promise<Result<Page<DanglingManifest>>> {
    const cursor = after === undefined ? undefined : parseDanglingCursor(after);
    if (after !== undefined && !cursor) return fail("UNSUPPORTED", `"${after}" is not a position in the dangling list; pass back the "next" of the previous page`, { last: after }, 400);
    return ok(danglingPage(this.sql, cursor, clampPage(limit)));
  }

  /** True when any tag exists (one row read). */
  async hasTags(): Promise<boolean> {
    return this.exists("tags");
  }

  /** Reference counts and other users of a manifest's blobs (image page, "would free"). */
  async imageSharing(manifest: string, blobs: string[]): Promise<ImageSharing> {
    return imageSharing(this.sql, manifest, blobs.slice(0, MAX_SHARING_BLOBS));
  }

  /** Tag and manifest counts and the last change, for repository listings. */
  async summary(): Promise<RepositorySummary> {
    return repositorySummary(this.sql);
  }

  async history(tag: string | undefined, limit: number): Promise<TagMove[]> {
    return tagHistory(this.sql, tag, limit);
  }

  async referrers(subject: string, artifactType: string | undefined, after: string, limit: number): Promise<Page<Descriptor>> {
    return referrersPage(this.sql, subject, artifactType, after, clampPage(limit));
  }

  // ── blob links ─────────────────────────────────────────────────────────

  async statBlob(digest: string): Promise<BlobLink | null> {
    const row = this.sql
      .exec<{ digest: string; size: number; r2_key: string; refcount: number }>("SELECT digest, size, r2_key, refcount FROM blobs WHERE digest = ?", digest)
      .toArray()[0];
    if (row && row.refcount <= 0) touchUnreferenced(this.sql, digest, Date.now(), this.graceMs());
    return row ? { digest: row.digest, size: row.size, key: row.r2_key, refcount: row.refcount } : null;
  }

  /**
   * Links a verified blob; the global BlobIndexDO must already know it. The
   * count starts from the manifests already naming it: a cached manifest is
   * stored before its layers are fetched.
   */
  async linkBlob(digest: string, size: number, key: string): Promise<void> {
    this.sql.exec(
      `INSERT INTO blobs (digest, size, r2_key, refcount, linked_at)
       VALUES (?, ?, ?, (SELECT count(*) FROM manifest_refs WHERE child = ? AND kind = 'blob'), ?)
       ON CONFLICT(digest) DO UPDATE SET r2_key = excluded.r2_key, size = excluded.size`,
      digest,
      size,
      key,
      digest,
      Date.now(),
    );
    // Uploaded but not yet referenced: kept for the grace window (a push PUTs its manifest last).
    cancelUnlink(this.sql, digest);
    markUnreferenced(this.sql, [digest], Date.now());
    await this.scheduleBlobRelease();
  }


  // ── pull-through cache state ───────────────────────────────────────────

  /**
   * Stores a manifest fetched from an upstream. Its blobs and children are not
   * required to be here: they are fetched when a client asks for them.
   */
  async putCachedManifest(write: ManifestWrite, tag: string | undefined): Promise<PutManifestOutcome> {
    return this.ctx.storage.transactionSync(() => {
      const hadManifests = this.exists("manifests");
      const now = Date.now();
      if (!findManifest(this.sql, write.digest)) insertManifest(this.sql, write, now);
      if (tag !== undefined) {
        setTag(this.sql, tag, write.digest, now, null, "upstream");
        this.markTagValidated(tag, now);
      }
      return { digest: write.digest, mediaType: write.mediaType, size: write.bytes.length, subject: write.subject, firstManifest: !hadManifests };
    });
  }

  /** Whether a manifest of this repository lists the blob (for a cache: the upstream vouched for it). */
  async namesBlob(digest: string): Promise<boolean> {
    return this.sql.exec("SELECT 1 FROM manifest_refs WHERE child = ? AND kind = 'blob' LIMIT 1", digest).toArray().length > 0;
  }

  /** What a cached tag points at and when the upstream last confirmed it. */
  async cachedTag(tag: string): Promise<{ digest: string; validatedAt: number } | null> {
    // Only what the cache stored: a tag somebody pushed under this name is not the upstream's.
    const digest = tagDigestFrom(this.sql, tag, "upstream");
    if (digest === undefined) return null;
    const row = this.sql.exec<{ validated_at: number }>("SELECT validated_at FROM cache_tags WHERE tag = ?", tag).toArray()[0];
    return { digest, validatedAt: row?.validated_at ?? 0 };
  }

  async tagValidated(tag: string): Promise<void> {
    this.markTagValidated(tag, Date.now());
  }

  private markTagValidated(tag: string, now: number): void {
    this.sql.exec(
      "INSERT INTO cache_tags (tag, validated_at) VALUES (?, ?) ON CONFLICT(tag) DO UPDATE SET validated_at = excluded.validated_at",
      tag,
      now,
    );
  }

  async unlinkBlob(digest: string): Promise<Result<void>> {
    const link = await this.statBlob(digest);
    if (!link) return fail("BLOB_UNKNOWN", `blob ${digest} is unknown to this repository`);
    if (link.refcount > 0) {
      return fail("DENIED", `blob ${digest} is used by ${link.refcount} manifest(s) in this repository; delete them first`, undefined, 409);
    }
    // Local before global, joined by the outbox (blob-release.ts); the global release is tried at once.
    dropLink(this.sql, digest, Date.now());
    const name = this.repositoryName();
    if (name) await drainUnlinks(this.sql, this.env, name, this.graceMs(), [digest]);
    await this.scheduleBlobRelease();
    return ok(undefined);
  }

  // ── upload sessions ────────────────────────────────────────────────────

  async createUpload(session: UploadSession): Promise<void> {
    const now = Date.now();
    this.sql.exec("INSERT INTO uploads (id, state, created_at, updated_at) VALUES (?, ?, ?, ?)", session.id, JSON.stringify(session), now, now);
    await this.scheduleUploadExpiry();
  }

  async getUpload(id: string): Promise<Result<UploadSession>> {
    const row = this.uploadRow(id);
    return row ? ok(JSON.parse(row.state) as UploadSession) : fail("BLOB_UPLOAD_UNKNOWN", `upload ${id} is unknown`);
  }

  /**
   * Claims a session for one request; `start` must equal the bytes received so far. The lease
   * (its expiry time, unique per claim) is the token the request commits with: once it expired
   * and another request claimed the session, the first one's commit is refused.
   */
  async beginAppend(id: string, start: number | undefined): Promise<Result<{ session: UploadSession; lease: number }>> {
    const row = this.uploadRow(id);
    if (!row) return fail("BLOB_UPLOAD_UNKNOWN", `upload ${id} is unknown`);
    const session = JSON.parse(row.state) as UploadSession;
    const now = Date.now();
    if (row.busy_until > now) {
      return fail("BLOB_UPLOAD_INVALID", `upload ${id} is receiving another chunk`, { offset: session.offset }, 416);
    }
    if (start !== undefined && start !== session.offset) {
      return fail("BLOB_UPLOAD_INVALID", `chunk starts at ${start} but ${session.offset} bytes were received`, { offset: session.offset }, 416);
    }
    // Strictly increasing, so no two claims share a lease even within one millisecond.
    const lease = Math.max(now + APPEND_LEASE_MS, row.busy_until + 1);
    this.sql.exec("UPDATE uploads SET busy_until = ? WHERE id = ?", lease, id);
    return ok({ session, lease });
  }

  /** Stores the state an append reached — only while `lease` is still the session's claim. */
  async commitAppend(session: UploadSession, lease: number): Promise<Result<void>> {
    const cursor = this.sql.exec("UPDATE uploads SET state = ?, busy_until = 0, updated_at = ? WHERE id = ? AND busy_until = ?", JSON.stringify(session), Date.now(), session.id, lease);
    return cursor.rowsWritten > 0 ? ok(undefined) : this.leaseLost(session.id);
  }

  /** Whether `lease` is still the session's claim (checked before an upload is assembled). */
  async holdsLease(id: string, lease: number): Promise<Result<void>> {
    return this.uploadRow(id)?.busy_until === lease ? ok(undefined) : this.leaseLost(id);
  }

  async abortAppend(id: string, lease: number): Promise<void> {
    this.sql.exec("UPDATE uploads SET busy_until = 0 WHERE id = ? AND busy_until = ?", id, lease);
  }

  private leaseLost(id: string): Result<never> {
    const session = this.uploadRow(id);
    const offset = session ? (JSON.parse(session.state) as UploadSession).offset : undefined;
    return fail("BLOB_UPLOAD_INVALID", `upload ${id} was taken over by another request while this one was sending; nothing of this request was kept`, { offset }, 409);
  }

  /** Forgets a session (finished or cancelled); returns it so the caller can clean R2. */
  async endUpload(id: string): Promise<Result<UploadSession>> {
    const row = this.uploadRow(id);
    if (!row) return fail("BLOB_UPLOAD_UNKNOWN", `upload ${id} is unknown`);
    this.sql.exec("DELETE FROM uploads WHERE id = ?", id);
    return ok(JSON.parse(row.state) as UploadSession);
  }

  override async alarm(): Promise<void> {
    const cutoff = Date.now() - loadConfig(this.env).uploadExpirySeconds * 1000;
    const stale = this.sql.exec<{ id: string; state: string }>("SELECT id, state FROM uploads WHERE updated_at < ? AND busy_until < ?", cutoff, Date.now()).toArray();
    for (const row of stale) {
      await deleteUploadData(this.env.BLOBS, JSON.parse(row.state) as UploadSession);
      this.sql.exec("DELETE FROM uploads WHERE id = ?", row.id);
    }
    await this.scheduleUploadExpiry();
    await this.releaseBlobs();
  }

  // ── lifecycle: blob release, fsck, retention, usage ────────────────────

  /** Releases what is due now; the alarm calls this, tests and fsck may too. */
  async releaseBlobs(): Promise<ReleaseRun> {
    const name = this.repositoryName();
    if (!name) {
      // Not yet recorded (an object older than this code, woken by an alarm): the next call through a stub records it.
      console.warn("blob release postponed: repository name not recorded yet", this.ctx.id.toString());
      return { released: [], unlinked: 0, deferred: 0, failed: 0 };
    }
    const run = await runBlobRelease(this.ctx.storage, this.env, name, this.graceMs());
    await this.scheduleBlobRelease();
    return run;
  }

  async pendingReleases(): Promise<PendingReleases & { alarm: number | null }> {
    return { ...pendingReleases(this.sql), alarm: await this.ctx.storage.getAlarm() };
  }

  /** The checks fsck can make on this repository alone; `repair` fixes counts, tags and schedules. */
  async fsck(name: string, repair: boolean, lazyReferences: boolean): Promise<LocalCheck> {
    this.rememberName(name);
    const options = { repair, lazyReferences, now: Date.now(), graceMs: this.graceMs() };
    const check = repair ? this.ctx.storage.transactionSync(() => checkRepository(this.sql, options)) : checkRepository(this.sql, options);
    if (repair) await this.scheduleBlobRelease();
    return check;
  }

  /** This repository's blob links after `after` in digest order, at most `limit` (fsck, usage). */
  async blobPage(after: string, limit: number): Promise<BlobLink[]> {
    return this.sql
      .exec<{ digest: string; size: number; r2_key: string; refcount: number }>("SELECT digest, size, r2_key, refcount FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?", after, limit)
      .toArray()
      .map((row) => ({ digest: row.digest, size: row.size, key: row.r2_key, refcount: row.refcount }));
  }

  /**
   * fsck, seen from a blob index link: does this repository link the blob, or
   * is it releasing it — and is that release late (its alarm lost)? This also
   * reaches repositories the catalog does not list (blobs but no manifest).
   */
  async linkHealth(digest: string, slackMs: number): Promise<{ state: "linked" | "releasing" | "none"; overdue: boolean }> {
    const now = Date.now();
    const link = this.sql.exec<{ refcount: number; since: number | null }>(
      "SELECT b.refcount, r.since FROM blobs b LEFT JOIN blob_release r ON r.digest = b.digest WHERE b.digest = ?",
      digest,
    ).toArray()[0];
    if (link) return { state: "linked", overdue: link.refcount <= 0 && (link.since === null || link.since + this.graceMs() + slackMs < now) };
    const queued = this.sql.exec<{ next_at: number }>("SELECT next_at FROM blob_unlinks WHERE digest = ?", digest).toArray()[0];
    if (queued) return { state: "releasing", overdue: queued.next_at + slackMs < now };
    return { state: "none", overdue: false };
  }

  /** fsck repair for a late release found through linkHealth(). */
  async resumeRelease(digest: string): Promise<void> {
    this.sql.exec(
      "INSERT OR IGNORE INTO blob_release (digest, since) SELECT digest, ? FROM blobs WHERE digest = ? AND refcount <= 0",
      Date.now(),
      digest,
    );
    await this.scheduleBlobRelease();
  }

  /** Applies a retention policy; a dry run rolls its transaction back and reports the same outcome. */
  async applyRetention(name: string, policy: RetentionPolicy, options: { dryRun: boolean; cached: boolean; actor: string | null; maxDeletes: number }): Promise<RetentionOutcome & { emptied: boolean }> {
    this.rememberName(name);
    let outcome: RetentionOutcome = { untagged: [], deleted: [], truncated: false };
    let emptied = false;
    try {
      this.ctx.storage.transactionSync(() => {
        outcome = applyPolicy(this.sql, policy, { ...options, now: Date.now(), referrers: loadConfig(this.env).referrersOnSubjectDelete });
        emptied = outcome.deleted.length > 0 && !this.exists("manifests");
        if (options.dryRun) throw new DryRunRollback();
      });
    } catch (error) {
      if (!(error instanceof DryRunRollback)) throw error;
    }
    if (!options.dryRun) await this.scheduleBlobRelease();
    return { ...outcome, emptied };
  }

  /** Local storage figures; usage.ts adds what only the blob index knows (sharing). */
  async usageTotals(): Promise<{ manifests: number; manifestBytes: number; blobs: number; blobBytes: number; unreferencedBytes: number }> {
    const m = this.sql.exec<{ n: number; bytes: number | null }>("SELECT count(*) AS n, sum(size) AS bytes FROM manifests").one();
    const b = this.sql
      .exec<{ n: number; bytes: number | null; unreferenced: number | null }>("SELECT count(*) AS n, sum(size) AS bytes, sum(CASE WHEN refcount <= 0 THEN size ELSE 0 END) AS unreferenced FROM blobs")
      .one();
    return { manifests: m.n, manifestBytes: m.bytes ?? 0, blobs: b.n, blobBytes: b.bytes ?? 0, unreferencedBytes: b.unreferenced ?? 0 };
  }

  async cachedUsage(): Promise<RepositoryUsage | null> {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'usage'").toArray()[0];
    return row ? (JSON.parse(row.value) as RepositoryUsage) : null;
  }

  async storeUsage(usage: RepositoryUsage): Promise<void> {
    this.sql.exec("INSERT INTO meta (key, value) VALUES ('usage', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", JSON.stringify(usage));
  }

  private rememberName(name: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES ('name', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", name);
  }

  /** The name this object was created for (idFromName); the blob index keys links by it. */
  private repositoryName(): string | undefined {
    return this.ctx.id.name ?? this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'name'").toArray()[0]?.value;
  }

  private graceMs(): number {
    return loadConfig(this.env).blobGraceSeconds * 1000;
  }

  private async scheduleBlobRelease(): Promise<void> {
    const due = nextReleaseDue(this.sql, this.graceMs());
    if (due !== null) await armAlarm(this.ctx.storage, due);
  }

  // ── helpers ────────────────────────────────────────────────────────────

  private manifestRow(reference: string): Result<ManifestRow> {
    const digest = looksLikeDigest(reference) ? reference : tagDigest(this.sql, reference);
    const row = digest ? findManifest(this.sql, digest) : undefined;
    if (!row) return fail("MANIFEST_UNKNOWN", `manifest ${reference} is unknown`);
    return ok(row);
  }

  private uploadRow(id: string): { state: string; busy_until: number } | undefined {
    return this.sql.exec<{ state: string; busy_until: number }>("SELECT state, busy_until FROM uploads WHERE id = ?", id).toArray()[0];
  }

  /** One row read, whatever the table holds. */
  private exists(table: "manifests" | "tags"): boolean {
    return this.sql.exec(`SELECT 1 FROM ${table} LIMIT 1`).toArray().length > 0;
  }

  /** A push may add tags only while the repository stays within MAX_TAGS_PER_REPOSITORY. */
  private roomForTags(tags: readonly string[]): Result<void> {
    const added = tags.filter((tag) => tagDigest(this.sql, tag) === undefined).length;
    if (added === 0) return ok(undefined);
    const held = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM tags").one().n;
    if (held + added <= MAX_TAGS_PER_REPOSITORY) return ok(undefined);
    return fail("DENIED", `this repository holds ${held} tags; at most ${MAX_TAGS_PER_REPOSITORY} are allowed: delete tags before adding more`, { tags: held, limit: MAX_TAGS_PER_REPOSITORY }, 403);
  }

  private async scheduleUploadExpiry(): Promise<void> {
    const oldest = this.sql.exec<{ at: number | null }>("SELECT min(updated_at) AS at FROM uploads").one().at;
    if (oldest === null) return;
    const due = oldest + loadConfig(this.env).uploadExpirySeconds * 1000;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > due) await this.ctx.storage.setAlarm(Math.max(due, Date.now() + 1000));
  }
}

function clampPage(limit: number): number {
  return Math.max(0, Math.min(Math.floor(limit), MAX_LIST_PAGE));
}

/** Thrown inside a dry run's transaction to roll it back. */
class DryRunRollback extends Error {}

export function repositoryStub(env: Env, name: string): DurableObjectStub<RepositoryDO> {
  return env.REPOSITORY.get(env.REPOSITORY.idFromName(name));
}
