// The cache fills of one blob, kept by its BlobIndexDO: a fill belongs to the Durable Object,
// not to the request that asked for it, so it survives clients that hang up and the platform's
// ~30 s cut of a request's waitUntil. It runs in the object's alarm, in slices of
// FILL_SLICE_SECONDS (an alarm may run 15 min); each slice resumes the upstream body with a
// Range request from the last stored segment. Failures are retried with backoff (FILL_RETRIES
// attempts in a row without a new segment); a failed fill leaves nothing visible.
//
// Table fill_job: one running job at most; finished ones stay FILL_RESULT_MS so followers can
// read the outcome, then the row is removed (and the segments, unless they are the blob).

import { OciError, type OciErrorCode } from "../http/errors";
import { loadConfig } from "../config";
import { parseDigest } from "../oci/digest";
import { findUpstream, type UpstreamConfig } from "../upstream/config";
import { repositoryStub } from "./repository-do";
import { fillKey, runFillSlice, type FillJobState, type SliceOutcome } from "./fill-slice";
import { deleteObject } from "./segmented-object";

// Tables made by earlier versions also have multipart_key, multipart_id and parts (fills then
// assembled a multipart object); they are ignored. Such a fill resumes into segments: its
// segment objects were written under the same keys.
export const FILL_SCHEMA = `
DROP TABLE IF EXISTS fill;
CREATE TABLE IF NOT EXISTS fill_job (
  id TEXT PRIMARY KEY, digest TEXT NOT NULL, upstream TEXT NOT NULL, upstream_repository TEXT NOT NULL, repository TEXT NOT NULL,
  also_for TEXT NOT NULL DEFAULT '[]', size INTEGER, committed INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL, error TEXT, pin TEXT, result_key TEXT,
  started_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL, due_at INTEGER, cleanup_at INTEGER
);
`;

/** A finished fill's outcome (and its segments, which followers may be reading) is kept this long. */
export const FILL_RESULT_MS = 60 * 1000;
const BACKOFF_FIRST_MS = 2000;
const BACKOFF_MAX_MS = 60 * 1000;

/** What the Worker asks for: fill `digest` from `upstreamRepository` at `upstream` for the cached `repository`. */
export interface FillRequest {
  digest: string;
  /** As the Worker resolved it; credentials are never stored, they are read from the env by name. */
  upstream: UpstreamConfig;
  upstreamRepository: string;
  repository: string;
}

export interface FillError {
  code: OciErrorCode;
  message: string;
  status: number;
  headers: Record<string, string>;
  /** The OciError's detail as JSON (RPC results must be serializable types). */
  detailJson?: string;
}

export interface FillProgress {
  fillId: string;
  /** "gone": finished so long ago that only the blob index knows the outcome. */
  state: "running" | "done" | "failed" | "gone";
  /** The repository the fill is for (it links the blob when done). */
  repository: string;
  size: number | null;
  /** Bytes readable as segment objects (whole segments). */
  committed: number;
  key?: string;
  error?: FillError;
}

/** The stored copy, or the fill (`created`: by this call). */
export interface FillStart {
  stored?: { key: string; size: number };
  fill?: FillProgress;
  created: boolean;
}

interface JobRow extends Record<string, SqlStorageValue> {
  id: string;
  digest: string;
  upstream: string;
  upstream_repository: string;
  repository: string;
  also_for: string;
  size: number | null;
  committed: number;
  attempts: number;
  state: string;
  error: string | null;
  pin: string | null;
  result_key: string | null;
  due_at: number | null;
  cleanup_at: number | null;
}

/** What FillJobs needs from its BlobIndexDO. */
export interface FillOwner {
  pin(digest: string): Promise<string>;
  renewPin(token: string): void;
  releasePin(token: string): Promise<void>;
  register(digest: string, key: string, size: number, repository: string, pin: string): Promise<string>;
  linkIndex(repository: string): void;
  armAt(due: number): Promise<void>;
}

/** What a follower last saw of a fill: status() waits while this is still all there is. */
export interface FillSeen {
  committed: number;
  size: number | null;
}

/** A status() call waits at most this long for news (a slice may not be running here now). */
const STATUS_WAIT_MS = 1000;

export class FillJobs {
  /** Set while this instance runs a slice; a job marked running without one (and without an alarm) died. */
  private slice: Promise<void> | undefined;
  /** Status calls waiting for the running fill to move (see status). */
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly ctx: DurableObjectState,
    private readonly owner: FillOwner,
  ) {}

  /** Starts a fill unless one runs; the running one's progress otherwise. */
  async start(request: FillRequest): Promise<FillStart> {
    const running = this.running();
    if (running) {
      await this.revive(running);
      return { fill: progress(running), created: false };
    }
    const now = Date.now();
    const id = crypto.randomUUID();
    const pin = await this.owner.pin(request.digest);
    const { credentials: _secret, ...upstream } = request.upstream;
    this.sql.exec(
      "INSERT INTO fill_job (id, digest, upstream, upstream_repository, repository, state, pin, started_at, heartbeat_at, due_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
      id,
      request.digest,
      JSON.stringify(upstream),
      request.upstreamRepository,
      request.repository,
      pin,
      now,
      now,
      now,
    );
    await this.owner.armAt(now);
    return { fill: progress(this.job(id)!), created: true };
  }

  /**
   * The fill's progress. With `seen`, a running fill that has not moved past it yet is waited for
   * (up to STATUS_WAIT_MS): followers hear of every new segment at once, without polling.
   */
  async status(fillId: string, seen?: FillSeen): Promise<FillProgress> {
    let job = this.job(fillId);
    if (job?.state === "running") {
      await this.revive(job);
      if (seen && job.committed === seen.committed && job.size === seen.size) {
        await this.moved();
        job = this.job(fillId);
      }
    }
    return job ? progress(job) : { fillId, state: "gone", repository: "", size: null, committed: 0 };
  }

  /** Resolves when the running fill learns its size, stores a segment or ends, or after STATUS_WAIT_MS. */
  private moved(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, STATUS_WAIT_MS);
      this.waiting.add(done);
    });
  }

  private wake(): void {
    for (const done of [...this.waiting]) done();
  }

  /** `repository` vouched for the blob while it is being filled: link it too when done. False when the fill is not running. */
  join(fillId: string, repository: string): boolean {
    const job = this.job(fillId);
    if (!job || job.state !== "running") return false;
    const also = new Set<string>(JSON.parse(job.also_for) as string[]);
    also.add(repository);
    this.sql.exec("UPDATE fill_job SET also_for = ? WHERE id = ?", JSON.stringify([...also]), fillId);
    return true;
  }

  /** The alarm's share: a due slice, then the cleanup of finished fills. Arms what comes next. */
  async onAlarm(): Promise<void> {
    const job = this.running();
    if (job && !this.slice && (job.due_at ?? 0) <= Date.now()) {
      this.slice = this.runSlice(job.digest, job);
      try {
        await this.slice;
      } finally {
        this.slice = undefined;
      }
    }
    const now = Date.now();
    for (const finished of this.sql.exec<JobRow>("SELECT * FROM fill_job WHERE state != 'running' AND cleanup_at <= ?", now).toArray()) {
      // A fill whose segments became the blob leaves them to the blob index (which deletes them
      // with the blob); any other fill's segments were only for its followers.
      const segments = fillKey(parseDigest(finished.digest), finished.id);
      if (finished.result_key !== segments) await deleteObject(this.env.BLOBS, segments);
      this.sql.exec("DELETE FROM fill_job WHERE id = ?", finished.id);
    }
    await this.armNext();
  }

  /** When the alarm is next needed for a fill: a due slice or a cleanup; null when never. */
  nextDue(): number | null {
    return this.sql.exec<{ due: number | null }>("SELECT min(CASE WHEN state = 'running' THEN due_at ELSE cleanup_at END) AS due FROM fill_job").one().due;
  }

  /** Arms the alarm for the next due slice or cleanup (earliest wins; see BlobIndexDO.armAt). */
  private async armNext(): Promise<void> {
    const next = this.nextDue();
    if (next !== null) await this.owner.armAt(next);
  }

  /**
   * A running job whose slice died with its object (no slice runs here) continues: its alarm is
   * armed again unless an earlier one is set (a slice that died at once leaves due_at unset).
   */
  private async revive(job: JobRow): Promise<void> {
    if (this.slice) return;
    await this.owner.armAt(Math.max(Date.now(), job.due_at ?? 0));
  }

  private async runSlice(digest: string, row: JobRow): Promise<void> {
    // Stored and verified by an earlier slice whose completion failed (register or link): finish it.
    if (row.result_key !== null && row.size !== null) return this.complete(digest, row, row.result_key, row.size);
    const config = loadConfig(this.env);
    const now = Date.now();
    this.sql.exec("UPDATE fill_job SET heartbeat_at = ?, due_at = NULL WHERE id = ?", now, row.id);
    if (row.pin) this.owner.renewPin(row.pin);
    const stored = JSON.parse(row.upstream) as UpstreamConfig;
    // Credentials live in secrets: the env's entry of the same name has them (never the table).
    const current = findUpstream(config.upstreams, stored.name);
    const upstream: UpstreamConfig = current?.url === stored.url ? current : stored;
    const state: FillJobState = {
      id: row.id,
      digest,
      upstream,
      upstreamRepository: row.upstream_repository,
      size: row.size,
      committed: row.committed,
    };
    let advanced = false;
    let outcome: SliceOutcome;
    try {
      outcome = await runFillSlice(this.env, state, now + config.fillSliceSeconds * 1000, {
        sized: (size) => {
          this.sql.exec("UPDATE fill_job SET size = ?, heartbeat_at = ? WHERE id = ?", size, Date.now(), row.id);
          this.wake();
        },
        committed: (committed) => {
          advanced = true;
          this.sql.exec("UPDATE fill_job SET committed = ?, attempts = 0, heartbeat_at = ? WHERE id = ?", committed, Date.now(), row.id);
          this.wake();
        },
      }, (promise) => this.ctx.waitUntil(promise));
    } catch (error) {
      // A storage call that failed outside the slice's own handling: try again later.
      outcome = { kind: "broken", error: new OciError("UPSTREAM_UNAVAILABLE", `cache fill of ${digest}: ${String(error)}`, undefined, 502), permanent: false, beforeBody: false };
    }
    const job = this.job(row.id)!;
    if (outcome.kind === "done") {
      // Remembered first, so that a completion that fails is retried without fetching again.
      this.sql.exec("UPDATE fill_job SET result_key = ?, size = ? WHERE id = ?", outcome.key, outcome.size, row.id);
      try {
        return await this.complete(digest, job, outcome.key, outcome.size);
      } catch (error) {
        console.warn("cache fill stored but not registered yet; retrying", digest, String(error));
        this.sql.exec("UPDATE fill_job SET due_at = ? WHERE id = ?", Date.now() + BACKOFF_FIRST_MS, row.id);
        return;
      }
    }
    if (outcome.kind === "paused" && advanced) {
      this.sql.exec("UPDATE fill_job SET due_at = ? WHERE id = ?", Date.now(), row.id);
      return;
    }
    const error = outcome.kind === "broken"
      ? outcome.error
      : new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream.name}: blob ${digest} arrives too slowly (not one segment in ${config.fillSliceSeconds} s)`, { upstream: upstream.name }, 504);
    const attempts = job.attempts + 1;
    // Before any answer of the first attempt the fill is not retried: the clients waiting for
    // its headers hear the upstream at once (and a 429 is not hammered in the background).
    const final = outcome.kind === "broken" && (outcome.permanent || (outcome.beforeBody && job.attempts === 0 && job.committed === 0 && job.size === null));
    if (final || attempts > config.fillRetries) return this.fail(digest, job, error);
    const backoff = Math.min(BACKOFF_FIRST_MS * 2 ** (attempts - 1), BACKOFF_MAX_MS);
    this.sql.exec("UPDATE fill_job SET attempts = ?, error = ?, due_at = ? WHERE id = ?", attempts, JSON.stringify(errorOf(error)), Date.now() + backoff, row.id);
    console.warn("cache fill attempt failed; retrying", digest, `attempt ${attempts}`, error.message);
  }

  private async complete(digest: string, job: JobRow, key: string, size: number): Promise<void> {
    const canonical = await this.owner.register(digest, key, size, job.repository, job.pin ?? "");
    const repositories = [job.repository, ...(JSON.parse(job.also_for) as string[])];
    for (const repository of repositories) this.owner.linkIndex(repository);
    // The client that asked may be long gone: the fill links the blob in the repository itself.
    await Promise.all(repositories.map((repository) => repositoryStub(this.env, repository).linkBlob(digest, size, canonical)));
    this.sql.exec(
      "UPDATE fill_job SET state = 'done', size = ?, committed = ?, result_key = ?, pin = NULL, error = NULL, cleanup_at = ? WHERE id = ?",
      size,
      size,
      canonical,
      Date.now() + FILL_RESULT_MS,
      job.id,
    );
    this.wake();
  }

  private async fail(digest: string, job: JobRow, error: OciError): Promise<void> {
    console.warn("cache fill failed", digest, error.message);
    await deleteObject(this.env.BLOBS, fillKey(parseDigest(digest), job.id));
    this.sql.exec("UPDATE fill_job SET state = 'failed', error = ?, pin = NULL, cleanup_at = ? WHERE id = ?", JSON.stringify(errorOf(error)), Date.now() + FILL_RESULT_MS, job.id);
    this.wake();
    if (job.pin) await this.owner.releasePin(job.pin);
  }

  private running(): JobRow | undefined {
    return this.sql.exec<JobRow>("SELECT * FROM fill_job WHERE state = 'running' LIMIT 1").toArray()[0];
  }

  private job(id: string): JobRow | undefined {
    return this.sql.exec<JobRow>("SELECT * FROM fill_job WHERE id = ?", id).toArray()[0];
  }
}

function progress(job: JobRow): FillProgress {
  const state = job.state === "done" || job.state === "failed" ? job.state : "running";
  return {
    fillId: job.id,
    state,
    repository: job.repository,
    size: job.size,
    committed: job.committed,
    ...(job.result_key ? { key: job.result_key } : {}),
    ...(state === "failed" && job.error ? { error: JSON.parse(job.error) as FillError } : {}),
  };
}

function errorOf(error: OciError): FillError {
  return { code: error.code, message: error.message, status: error.status, headers: error.headers, ...(error.detail === undefined ? {} : { detailJson: JSON.stringify(error.detail) }) };
}

/** The OciError a failed fill reported, for the clients that waited for it. */
export function fillError(error: FillError | undefined, digest: string): OciError {
  if (!error) return new OciError("UPSTREAM_UNAVAILABLE", `the cache fill of ${digest} failed`, undefined, 502);
  return new OciError(error.code, error.message, error.detailJson === undefined ? undefined : (JSON.parse(error.detailJson) as unknown), error.status, error.headers);
}
