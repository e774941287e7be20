// One Durable Object per blob digest: the registry-wide truth about a blob.
// It knows the R2 key of the single stored copy, which repositories link the
// blob, and which writers are storing it right now. The R2 object is deleted
// only by this object's alarm, when no repository links it, no writer holds a
// pin, and the grace window has passed — so a push in flight never loses a
// layer, and a layer shared by two images survives deleting one of them.
// It also owns the blob's pull-through cache fill (fill-jobs.ts), which runs in
// the same alarm: every alarm is armed earliest-due (armAt), so neither job
// pushes back the other's schedule.

import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config";
import { deleteObject, statObject } from "./segmented-object";
import { FILL_SCHEMA, FillJobs, type FillProgress, type FillSeen, type FillRequest, type FillStart } from "./fill-jobs";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blob (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, r2_key TEXT, size INTEGER, unreferenced_since INTEGER);
CREATE TABLE IF NOT EXISTS links (repository TEXT PRIMARY KEY, linked_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pins (token TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stray_keys (r2_key TEXT PRIMARY KEY);
`;

/** A writer's pin outlives a crashed request by at most this long. */
const PIN_TTL_MS = 2 * 60 * 60 * 1000;

export interface BlobRecord {
  digest: string;
  key: string | null;
  size: number | null;
  repositories: string[];
  pins: number;
  unreferencedSince: number | null;
}

export interface BlobInspection {
  /** False when this index has no record of the blob at all. */
  known: boolean;
  key: string | null;
  size: number | null;
  /** How many repositories link the blob. */
  links: number;
  /** When the asking repository's link was last (re)made; null when it has none. */
  linkedAt: number | null;
  pins: number;
  unreferencedSince: number | null;
  strayKeys: string[];
  alarm: number | null;
}

export class BlobIndexDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Set while the alarm deletes the R2 object; every other call waits for it. */
  private deleting: Promise<void> | undefined;
  private readonly fills: FillJobs;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
    this.sql.exec(FILL_SCHEMA);
    this.fills = new FillJobs(this.sql, env, ctx, {
      pin: (digest) => this.pin(digest),
      renewPin: (token) => {
        this.sql.exec("UPDATE pins SET expires_at = ? WHERE token = ?", Date.now() + PIN_TTL_MS, token);
      },
      releasePin: (token) => this.releasePin(token),
      register: (digest, key, size, repository, pin) => this.register(digest, key, size, repository, pin),
      linkIndex: (repository) => this.linkRepository(repository),
      armAt: (due) => this.armAt(due),
    });
  }

  /** A writer is about to store this blob: deletion must wait for it. */
  async pin(digest: string): Promise<string> {
    await this.deleting;
    this.ensure(digest);
    const token = crypto.randomUUID();
    this.sql.exec("INSERT INTO pins (token, expires_at) VALUES (?, ?)", token, Date.now() + PIN_TTL_MS);
    return token;
  }

  /**
   * Records a verified copy at `key` and links it to `repository`. Returns the
   * canonical key; when it differs from `key`, the caller's copy is a duplicate
   * and the caller deletes it.
   */
  async register(digest: string, key: string, size: number, repository: string, pin?: string): Promise<string> {
    await this.deleting;
    this.ensure(digest);
    const row = this.row();
    let canonical = row.r2_key;
    if (!canonical || !(await this.exists(canonical))) {
      if (canonical && canonical !== key) this.sql.exec("INSERT OR IGNORE INTO stray_keys (r2_key) VALUES (?)", canonical);
      canonical = key;
      this.sql.exec("UPDATE blob SET r2_key = ?, size = ? WHERE id = 1", key, size);
      this.sql.exec("DELETE FROM stray_keys WHERE r2_key = ?", key);
    }
    if (canonical !== key) {
      // The caller's copy is a duplicate: the alarm deletes it if the caller does not (storeWhole never does).
      this.sql.exec("INSERT OR IGNORE INTO stray_keys (r2_key) VALUES (?)", key);
      await this.armAt(Date.now() + this.graceMs());
    }
    this.linkRepository(repository);
    if (pin) this.sql.exec("DELETE FROM pins WHERE token = ?", pin);
    return canonical;
  }

  /** Where the blob is stored, or null when it is not (any more). */
  async locate(digest: string): Promise<{ key: string; size: number } | null> {
    await this.deleting;
    this.ensure(digest);
    const row = this.row();
    return row.r2_key !== null && row.size !== null ? { key: row.r2_key, size: row.size } : null;
  }

  /** Links an already stored blob to another repository (a mount); null when it is not stored. */
  async linkExisting(digest: string, repository: string): Promise<{ key: string; size: number } | null> {
    const location = await this.locate(digest);
    if (location) this.linkRepository(repository);
    return location;
  }

  /** Whether `repository` links this blob (a cache fill registers the copy it stored for its repository). */
  async isLinkedTo(repository: string): Promise<boolean> {
    return this.sql.exec("SELECT 1 FROM links WHERE repository = ?", repository).toArray().length > 0;
  }

  /** `linked_at` is refreshed by every (re)link: release() refuses links younger than the grace window. */
  private linkRepository(repository: string): void {
    this.sql.exec(
      "INSERT INTO links (repository, linked_at) VALUES (?, ?) ON CONFLICT(repository) DO UPDATE SET linked_at = excluded.linked_at",
      repository,
      Date.now(),
    );
    this.sql.exec("UPDATE blob SET unreferenced_since = NULL WHERE id = 1");
  }

  /**
   * Drops `repository`'s link unless it was (re)made within the grace window:
   * a writer may have registered the blob for that repository just now and be
   * about to link it locally, so a release racing it must not win ("fresh";
   * the repository retries later). See blob-release.ts.
   */
  async release(repository: string): Promise<"released" | "fresh" | "absent"> {
    await this.deleting;
    const link = this.sql.exec<{ linked_at: number }>("SELECT linked_at FROM links WHERE repository = ?", repository).toArray()[0];
    if (!link) return "absent";
    if (link.linked_at > Date.now() - this.graceMs()) return "fresh";
    this.sql.exec("DELETE FROM links WHERE repository = ?", repository);
    await this.scheduleIfUnreferenced();
    return "released";
  }

  /** What fsck and usage figures need to know about this blob, from one repository's point of view. */
  async inspect(repository: string | null): Promise<BlobInspection> {
    const row = this.sql.exec<{ r2_key: string | null; size: number | null; unreferenced_since: number | null }>("SELECT r2_key, size, unreferenced_since FROM blob").toArray()[0];
    const link = repository === null ? undefined : this.sql.exec<{ linked_at: number }>("SELECT linked_at FROM links WHERE repository = ?", repository).toArray()[0];
    return {
      known: row !== undefined,
      key: row?.r2_key ?? null,
      size: row?.size ?? null,
      links: this.linkCount(),
      linkedAt: link?.linked_at ?? null,
      pins: this.livePins(),
      unreferencedSince: row?.unreferenced_since ?? null,
      strayKeys: this.sql.exec<{ r2_key: string }>("SELECT r2_key FROM stray_keys").toArray().map((r) => r.r2_key),
      alarm: await this.ctx.storage.getAlarm(),
    };
  }

  /** How many repositories link this blob (usage figures). */
  async countLinks(): Promise<number> {
    return this.linkCount();
  }

  /** Repositories linking this blob, in pages (fsck). */
  async linkedRepositories(after: string, limit: number): Promise<{ repository: string; linkedAt: number }[]> {
    return this.sql
      .exec<{ repository: string; linked_at: number }>("SELECT repository, linked_at FROM links WHERE repository > ? ORDER BY repository LIMIT ?", after, limit)
      .toArray()
      .map((r) => ({ repository: r.repository, linkedAt: r.linked_at }));
  }

  /**
   * fsck found an object at `key` that this index does not track (a copy left
   * by a crash): queue it for deletion. A later register() of the same key
   * takes it back; live pins postpone the alarm as usual.
   */
  async adoptStray(digest: string, key: string): Promise<void> {
    await this.deleting;
    this.ensure(digest);
    if (this.row().r2_key === key) return;
    this.sql.exec("INSERT OR IGNORE INTO stray_keys (r2_key) VALUES (?)", key);
    await this.armAt(Date.now() + this.graceMs());
  }

  /** Makes sure a pending deletion has an alarm (fsck repair). */
  async rearm(): Promise<void> {
    const row = this.sql.exec<{ unreferenced_since: number | null }>("SELECT unreferenced_since FROM blob").toArray()[0];
    if (row && this.linkCount() === 0) {
      if (row.unreferenced_since === null) this.sql.exec("UPDATE blob SET unreferenced_since = ? WHERE id = 1", Date.now());
      await this.armAt(Math.max(Date.now(), (row.unreferenced_since ?? Date.now()) + this.graceMs()));
    } else if (this.sql.exec("SELECT 1 FROM stray_keys").toArray().length > 0) {
      await this.armAt(Date.now());
    }
  }

  /**
   * Earliest-due arming (the one alarm serves deletions and the fill; an alarm that comes early
   * finds nothing due and arms again). An alarm in the past is the one running now, which is
   * cleared when it ends unless armed again.
   */
  private async armAt(due: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > due || current < Date.now()) await this.ctx.storage.setAlarm(due);
  }

  /** Unconditional; repositories use release(), which cannot race a writer. */
  async unlink(repository: string): Promise<void> {
    await this.deleting;
    this.sql.exec("DELETE FROM links WHERE repository = ?", repository);
    await this.scheduleIfUnreferenced();
  }

  /**
   * Pull-through cache: the stored copy, or the fill of this blob — started now (the alarm runs
   * it; it needs no client) or already running. However many requests ask, one fill runs.
   */
  async startFill(request: FillRequest): Promise<FillStart> {
    const location = await this.locate(request.digest);
    if (location && (await this.exists(location.key))) return { stored: location, created: false };
    return this.fills.start(request);
  }

  /** Progress of fill `fillId` (running, done, failed or long gone); with `seen`, once it moved past that (or a second passed). */
  async fillStatus(fillId: string, seen?: FillSeen): Promise<FillProgress> {
    return this.fills.status(fillId, seen);
  }

  /** A repository that vouched for the blob follows the running fill: it is linked too when the fill ends. */
  async joinFill(fillId: string, repository: string): Promise<boolean> {
    return this.fills.join(fillId, repository);
  }

  async releasePin(token: string): Promise<void> {
    this.sql.exec("DELETE FROM pins WHERE token = ?", token);
    await this.scheduleIfUnreferenced();
  }

  async describe(): Promise<BlobRecord | null> {
    const rows = this.sql.exec<{ digest: string; r2_key: string | null; size: number | null; unreferenced_since: number | null }>("SELECT * FROM blob").toArray();
    const row = rows[0];
    if (!row) return null;
    return {
      digest: row.digest,
      key: row.r2_key,
      size: row.size,
      repositories: this.sql.exec<{ repository: string }>("SELECT repository FROM links ORDER BY repository").toArray().map((r) => r.repository),
      pins: this.livePins(),
      unreferencedSince: row.unreferenced_since,
    };
  }

  override async alarm(): Promise<void> {
    // Deletions first, as they always ran; the fill then arms its next slice or cleanup no
    // later than that (armAt keeps the earliest).
    await this.deleteIfDue();
    await this.fills.onAlarm();
  }

  private async deleteIfDue(): Promise<void> {
    // A writer holding a pin (a running fill too) may be storing to a key we would delete.
    if (this.livePins() > 0) {
      await this.ctx.storage.setAlarm(Date.now() + PIN_TTL_MS);
      return;
    }
    for (const stray of this.sql.exec<{ r2_key: string }>("SELECT r2_key FROM stray_keys").toArray()) {
      await deleteObject(this.env.BLOBS, stray.r2_key);
      this.sql.exec("DELETE FROM stray_keys WHERE r2_key = ?", stray.r2_key);
    }
    const row = this.sql.exec<{ r2_key: string | null; unreferenced_since: number | null }>("SELECT r2_key, unreferenced_since FROM blob").toArray()[0];
    if (!row || this.linkCount() > 0 || row.unreferenced_since === null) return;
    const due = row.unreferenced_since + this.graceMs();
    if (Date.now() < due) {
      await this.ctx.storage.setAlarm(due);
      return;
    }
    // Forget the record first, so nothing can link the blob while R2 deletes it;
    // the stray key finishes the job if this alarm dies halfway.
    const key = row.r2_key;
    this.sql.exec("DELETE FROM blob");
    if (!key) return;
    this.sql.exec("INSERT OR IGNORE INTO stray_keys (r2_key) VALUES (?)", key);
    this.deleting = deleteObject(this.env.BLOBS, key).then(() => {
      this.sql.exec("DELETE FROM stray_keys WHERE r2_key = ?", key);
    });
    try {
      await this.deleting;
    } finally {
      this.deleting = undefined;
    }
  }

  private async scheduleIfUnreferenced(): Promise<void> {
    if (this.linkCount() > 0) return;
    const row = this.row();
    if (row.unreferenced_since === null) this.sql.exec("UPDATE blob SET unreferenced_since = ? WHERE id = 1", Date.now());
    // The deletion's own schedule (which may move an earlier alarm later), but never past a fill's next step.
    await this.ctx.storage.setAlarm(Math.min(Date.now() + this.graceMs(), this.fills.nextDue() ?? Infinity));
  }

  private ensure(digest: string): void {
    this.sql.exec("INSERT OR IGNORE INTO blob (id, digest, unreferenced_since) VALUES (1, ?, NULL)", digest);
  }

  private row(): { r2_key: string | null; size: number | null; unreferenced_since: number | null } {
    const row = this.sql.exec<{ r2_key: string | null; size: number | null; unreferenced_since: number | null }>("SELECT r2_key, size, unreferenced_since FROM blob WHERE id = 1").one();
    return row;
  }

  private linkCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM links").one().n;
  }

  private livePins(): number {
    this.sql.exec("DELETE FROM pins WHERE expires_at < ?", Date.now());
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pins").one().n;
  }

  private graceMs(): number {
    return loadConfig(this.env).blobGraceSeconds * 1000;
  }

  private async exists(key: string): Promise<boolean> {
    return (await statObject(this.env.BLOBS, key)) !== null;
  }
}

export function blobIndexStub(env: Env, digest: string): DurableObjectStub<BlobIndexDO> {
  return env.BLOB_INDEX.get(env.BLOB_INDEX.idFromName(digest));
}
