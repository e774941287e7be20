// One Durable Object per blob digest: the registry-wide truth about a blob.
// It knows the R2 key of the single stored copy, which repositories link the
// blob, and which writers are storing it right now. The R2 object is deleted
// only by this object's alarm, when no repository links it, no writer holds a
// pin, and the grace window has passed — so a push in flight never loses a
// layer, and a layer shared by two images survives deleting one of them.

import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blob (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, r2_key TEXT, size INTEGER, unreferenced_since INTEGER);
CREATE TABLE IF NOT EXISTS links (repository TEXT PRIMARY KEY, linked_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pins (token TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stray_keys (r2_key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS fill (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, expires_at INTEGER NOT NULL);
`;

/** A cache fill that stops renewing its lease is presumed dead after this long. */
export const FILL_LEASE_MS = 60 * 1000;

/** Answer to a cache fill claim: serve the stored copy, fetch it (leader), or wait for the leader. */
export type FillClaim = { state: "stored"; key: string; size: number } | { state: "leader"; token: string } | { state: "wait" };

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

export class BlobIndexDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Set while the alarm deletes the R2 object; every other call waits for it. */
  private deleting: Promise<void> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
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
    this.linkRepository(repository);
    if (pin) {
      this.sql.exec("DELETE FROM pins WHERE token = ?", pin);
      this.sql.exec("DELETE FROM fill WHERE token = ?", pin);
    }
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

  private linkRepository(repository: string): void {
    this.sql.exec("INSERT OR IGNORE INTO links (repository, linked_at) VALUES (?, ?)", repository, Date.now());
    this.sql.exec("UPDATE blob SET unreferenced_since = NULL WHERE id = 1");
  }

  async unlink(repository: string): Promise<void> {
    await this.deleting;
    this.sql.exec("DELETE FROM links WHERE repository = ?", repository);
    await this.scheduleIfUnreferenced();
  }

  /**
   * Coordinates pull-through fills so that concurrent requests for one
   * uncached blob cause a single upstream fetch: the first caller leads (and
   * holds a pin), the others wait until the blob is stored or the lease lapses.
   */
  async claimFill(digest: string): Promise<FillClaim> {
    const location = await this.locate(digest);
    if (location && (await this.exists(location.key))) return { state: "stored", ...location };
    const now = Date.now();
    const lease = this.sql.exec<{ expires_at: number }>("SELECT expires_at FROM fill WHERE id = 1").toArray()[0];
    if (lease && lease.expires_at > now) return { state: "wait" };
    const token = crypto.randomUUID();
    this.sql.exec("INSERT OR REPLACE INTO fill (id, token, expires_at) VALUES (1, ?, ?)", token, now + FILL_LEASE_MS);
    this.sql.exec("INSERT INTO pins (token, expires_at) VALUES (?, ?)", token, now + PIN_TTL_MS);
    return { state: "leader", token };
  }

  /** The leader is still making progress. */
  async renewFill(token: string): Promise<void> {
    this.sql.exec("UPDATE fill SET expires_at = ? WHERE token = ?", Date.now() + FILL_LEASE_MS, token);
  }

  /** The leader gave up; the next claimant leads. */
  async abandonFill(token: string): Promise<void> {
    this.sql.exec("DELETE FROM fill WHERE token = ?", token);
    await this.releasePin(token);
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
    // A writer holding a pin may be storing to a key we would delete.
    if (this.livePins() > 0) {
      await this.ctx.storage.setAlarm(Date.now() + PIN_TTL_MS);
      return;
    }
    for (const stray of this.sql.exec<{ r2_key: string }>("SELECT r2_key FROM stray_keys").toArray()) {
      await this.env.BLOBS.delete(stray.r2_key);
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
    this.deleting = this.env.BLOBS.delete(key).then(() => {
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
    await this.ctx.storage.setAlarm(Date.now() + this.graceMs());
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
    return (await this.env.BLOBS.head(key)) !== null;
  }
}

export function blobIndexStub(env: Env, digest: string): DurableObjectStub<BlobIndexDO> {
  return env.BLOB_INDEX.get(env.BLOB_INDEX.idFromName(digest));
}
