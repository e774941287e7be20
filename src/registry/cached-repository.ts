// A read-only repository filled on demand from an upstream registry. It keeps
// its state in a RepositoryDO like a hosted repository, so cached images take
// part in the same reference counts, and it implements the same interface, so
// handlers never know the difference.
//
// - Manifests and blobs by digest are immutable: once stored, served with no
//   upstream request.
// - Tags are trusted for the upstream's TTL, then revalidated with a HEAD
//   (free on Docker Hub's rate limit); a GET happens only for new content. An
//   unreachable or rate-limiting upstream gets the stale tag served with a
//   Warning instead of a failed pull.
// - A cold blob is fetched once, by a fill that the blob's BlobIndexDO runs
//   (fill-jobs.ts) whether or not any client stays; every client that asks
//   follows that fill as its bytes are stored (fill-follower.ts).

import { readObject } from "./object-reader";
import { OciError, unwrap } from "../http/errors";
import { looksLikeDigest, parseDigest, type ParsedDigest } from "../oci/digest";
import { parseManifest } from "../oci/manifest";
import { UpstreamClient } from "../upstream/client";
import type { UpstreamTarget } from "../upstream/config";
import { RecordingObserver, type WaitUntil } from "../upstream/recording-observer";
import { blobIndexStub } from "./blob-index-do";
import { catalogStub } from "./catalog-do";
import { followFill, FOLLOWER_PATIENCE_MS } from "./fill-follower";
import { fillError, type FillProgress } from "./fill-jobs";
import { StoredRepository, manifestWrite } from "./stored-repository";
import type { BlobContent, BlobInfo, ByteRange, ManifestContent, ManifestHead, ManifestInfo, PutManifestResult, Repository, UploadStatus } from "./repository";

/** Upstream failures that let a cached tag be served stale: unreachable, 5xx, timeouts, 429. */
function isUnavailable(error: unknown): error is OciError {
  return error instanceof OciError && (error.code === "UPSTREAM_UNAVAILABLE" || error.code === "TOOMANYREQUESTS");
}

export class CachedRepository extends StoredRepository implements Repository {
  readonly kind = "cached";
  protected override readonly tagOrigin = "upstream" as const;
  private readonly client: UpstreamClient;
  private readonly observer: RecordingObserver;

  constructor(
    env: Env,
    /** Local name: `<upstream>/<repository>`, e.g. docker.io/library/nginx. */
    name: string,
    private readonly target: UpstreamTarget,
    private readonly waitUntil: WaitUntil,
  ) {
    super(env, name);
    this.observer = new RecordingObserver(env, target.upstream.name, waitUntil);
    this.client = new UpstreamClient(target.upstream, { observer: this.observer });
  }

  // ── manifests ──────────────────────────────────────────────────────────

  async getManifest(reference: string): Promise<ManifestContent> {
    if (looksLikeDigest(reference)) {
      const local = await this.state.getManifest(reference);
      if (local.ok) return this.hit(local.value);
      return this.miss(await this.fetchManifest(reference, undefined));
    }
    const cached = await this.state.cachedTag(reference);
    if (!cached) return this.miss(await this.fetchManifest(reference, reference));
    if (Date.now() - cached.validatedAt < this.target.upstream.tagTtlSeconds * 1000) return this.hit(await this.localManifest(cached.digest));

    let current: { digest: string };
    try {
      current = await this.client.headManifest(this.target.repository, reference);
    } catch (error) {
      if (isUnavailable(error)) return this.stale(cached.digest, error);
      throw error;
    }
    if (current.digest === cached.digest) {
      await this.state.tagValidated(reference);
      return this.hit(await this.localManifest(cached.digest));
    }
    const moved = await this.state.getManifest(current.digest);
    if (moved.ok) {
      await this.storeManifest(moved.value.bytes, moved.value.mediaType, current.digest, reference);
      return this.hit(moved.value);
    }
    try {
      return this.miss(await this.fetchManifest(current.digest, reference));
    } catch (error) {
      // The tag moved but the new manifest cannot be had now: on Docker Hub the HEAD is free
      // and the GET is what hits the rate limit. The last validated manifest beats no pull.
      if (isUnavailable(error)) return this.stale(cached.digest, error);
      throw error;
    }
  }

  async headManifest(reference: string): Promise<ManifestHead> {
    const { bytes: _bytes, ...info } = await this.getManifest(reference);
    return info;
  }

  // ── blobs ──────────────────────────────────────────────────────────────

  async statBlob(digest: string): Promise<BlobInfo> {
    const link = await this.state.statBlob(digest);
    if (link) return { digest, size: link.size };
    // The client is about to fetch it: start the fill now (it goes on without us), answer with its size.
    const opened = await this.unknownToUpstream(digest, () => this.openFill(parseDigest(digest)));
    const size = "stored" in opened ? opened.stored.size : opened.fill.size!;
    this.record(!("stored" in opened) && opened.created, size);
    return { digest, size };
  }

  async getBlob(digest: string, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const link = await this.state.statBlob(digest);
    if (link) {
      const wanted = range?.(link.size);
      this.observer.cacheHit(wanted ? wanted.end - wanted.start + 1 : link.size);
      return this.readStored(digest, link.key, link.size, wanted);
    }
    return this.unknownToUpstream(digest, () => this.fill(parseDigest(digest), range));
  }

  // ── writes: a cache is read-only ───────────────────────────────────────

  putManifest(): Promise<PutManifestResult> {
    throw this.readOnly();
  }
  deleteManifest(): Promise<void> {
    throw this.readOnly();
  }
  deleteBlob(): Promise<void> {
    throw this.readOnly();
  }
  mountBlob(): Promise<boolean> {
    throw this.readOnly();
  }
  startUpload(): Promise<UploadStatus> {
    throw this.readOnly();
  }
  uploadStatus(): Promise<UploadStatus> {
    throw this.readOnly();
  }
  appendUpload(): Promise<UploadStatus> {
    throw this.readOnly();
  }
  completeUpload(): Promise<BlobInfo> {
    throw this.readOnly();
  }
  cancelUpload(): Promise<void> {
    throw this.readOnly();
  }
  putBlob(): Promise<BlobInfo> {
    throw this.readOnly();
  }

  // ── internals ──────────────────────────────────────────────────────────

  private readOnly(): OciError {
    return new OciError("DENIED", `${this.name} is a read-only cache of ${this.target.upstream.name}; push to a repository without an upstream prefix`);
  }

  private hit(manifest: ManifestContent): ManifestContent {
    this.observer.cacheHit(manifest.size);
    return manifest;
  }

  private miss(manifest: ManifestContent): ManifestContent {
    this.observer.cacheMiss(manifest.size);
    return manifest;
  }

  /** The cached manifest of a tag the upstream could not confirm, with a Warning for the client. */
  private async stale(digest: string, error: OciError): Promise<ManifestContent> {
    const manifest = await this.localManifest(digest);
    return this.hit({ ...manifest, warning: `served from cache: upstream ${this.target.upstream.name} could not revalidate the tag (${error.message})` });
  }

  private async localManifest(digest: string): Promise<ManifestContent> {
    return unwrap(await this.state.getManifest(digest));
  }

  /** GETs a manifest from the upstream and stores it (and the tag, if any). */
  private async fetchManifest(reference: string, tag: string | undefined): Promise<ManifestContent> {
    const fetched = await this.client.getManifest(this.target.repository, reference);
    const stored = await this.storeManifest(fetched.bytes, fetched.mediaType, fetched.digest, tag);
    return { ...stored, bytes: fetched.bytes };
  }

  private async storeManifest(bytes: Uint8Array, mediaType: string, digest: string, tag: string | undefined): Promise<ManifestInfo> {
    const outcome = await this.state.putCachedManifest(manifestWrite(digest, bytes, parseManifest(bytes, mediaType)), tag);
    if (outcome.firstManifest) await catalogStub(this.env).add(this.name);
    return { digest, mediaType: outcome.mediaType, size: outcome.size, subject: outcome.subject };
  }

  private async readStored(digest: string, key: string, size: number, range: ByteRange | undefined): Promise<BlobContent> {
    const body = await readObject(this.env.BLOBS, key, size, range);
    if (!body) throw new OciError("BLOB_UNKNOWN", `blob ${digest} is missing from storage`);
    return { digest, size, body, range };
  }

  /**
   * Links a copy stored for another repository (perhaps a hosted push) into this one, once
   * this repository's own upstream vouches for the blob — otherwise a digest would be a key to
   * any repository's data. Vouched for: this repository already links it in the index (the
   * fill that stored it was this repository's), a cached manifest of this repository lists it
   * (no upstream request), or the upstream answers a HEAD for it. Null when the copy was
   * deleted in between (the next claim fetches it again).
   */
  private async adoptStored(digest: string, size: number, vouched = false): Promise<{ key: string; size: number } | null> {
    const index = blobIndexStub(this.env, digest);
    if (!vouched && !(await index.isLinkedTo(this.name)) && !(await this.state.namesBlob(digest))) {
      const upstream = await this.client.headBlob(this.target.repository, digest);
      if (upstream.size !== size) throw this.sizeDisagrees(digest, upstream.size, size);
    }
    const location = await index.linkExisting(digest, this.name);
    if (location) await this.state.linkBlob(digest, location.size, location.key);
    return location;
  }

  /**
   * One answer whether or not another repository stored the blob (the upstream was asked with a
   * HEAD or a GET, whose 404s read differently): existence elsewhere must not show.
   */
  private async unknownToUpstream<T>(digest: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof OciError && error.code === "BLOB_UNKNOWN") {
        throw new OciError("BLOB_UNKNOWN", `blob ${digest} of ${this.target.repository} not found at upstream ${this.target.upstream.name}`, { upstream: this.target.upstream.name });
      }
      throw error;
    }
  }

  /** A request that started the fill is a miss; one that follows another's is served from its single fetch. */
  private record(created: boolean, bytes: number): void {
    if (created) this.observer.cacheMiss(bytes);
    else this.observer.cacheHit(bytes);
  }

  /** One upstream fetch per uncached blob, however many clients ask at once, each served as the bytes arrive. */
  private async fill(digest: ParsedDigest, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const opened = await this.openFill(digest);
    if ("stored" in opened) {
      const wanted = range?.(opened.stored.size);
      this.record(false, wanted ? wanted.end - wanted.start + 1 : opened.stored.size);
      return this.readStored(digest.digest, opened.stored.key, opened.stored.size, wanted);
    }
    const size = opened.fill.size!;
    const wanted = range?.(size);
    let progress: FillProgress = opened.fill;
    if (wanted) {
      // A 206 starts only once its bytes are stored, so a partial response never breaks midway
      // (and an upstream failure is still a clear error status).
      progress = await this.awaitFill(digest, progress, (p) => p.committed > wanted.end);
    }
    this.record(opened.created, wanted ? wanted.end - wanted.start + 1 : size);
    if (progress.state === "done" && progress.key) return this.readStored(digest.digest, progress.key, size, wanted);
    const index = blobIndexStub(this.env, digest.digest);
    const body = followFill(
      {
        bucket: this.env.BLOBS,
        digest,
        size,
        progress,
        poll: (seen) => index.fillStatus(progress.fillId, seen),
        locate: () => index.locate(digest.digest),
      },
      wanted?.start ?? 0,
      wanted?.end ?? size - 1,
    );
    return { digest: digest.digest, size, body, range: wanted };
  }

  /**
   * The stored copy (vouched for, see adoptStored), or the fill of the blob — started by this
   * request or followed — once the fill knows the size (an upstream that sends no length: once
   * it is done). A fill for another cached repository is followed only after this repository's
   * upstream vouched for the blob, and then links the blob here too when it ends.
   */
  private async openFill(digest: ParsedDigest): Promise<{ stored: { key: string; size: number } } | { fill: FillProgress & { size: number }; created: boolean }> {
    const index = blobIndexStub(this.env, digest.digest);
    let vouched = false;
    let upstreamSize: number | undefined;
    for (;;) {
      const { stored, fill, created } = await index.startFill({ digest: digest.digest, upstream: this.target.upstream, upstreamRepository: this.target.repository, repository: this.name });
      if (stored || !fill) {
        const location = stored ? await this.adoptStored(digest.digest, stored.size, vouched && (upstreamSize === undefined || upstreamSize === stored.size)) : null;
        if (location) return { stored: location };
        continue;
      }
      let progress: FillProgress = fill;
      if (progress.repository !== this.name && progress.state === "running") {
        if (!vouched && !(await this.state.namesBlob(digest.digest))) upstreamSize = (await this.client.headBlob(this.target.repository, digest.digest)).size;
        vouched = true;
        if (!(await index.joinFill(progress.fillId, this.name))) continue;
      }
      progress = await this.awaitFill(digest, progress, (p) => p.size !== null);
      if (upstreamSize !== undefined && progress.size !== null && progress.size !== upstreamSize) throw this.sizeDisagrees(digest.digest, upstreamSize, progress.size);
      if (progress.state === "running" && progress.size !== null) return { fill: { ...progress, size: progress.size }, created };
      if (progress.state === "done" && progress.key && progress.size !== null && progress.repository === this.name) return { fill: { ...progress, size: progress.size }, created };
      // Done for another repository (now linked here too), or long gone: the stored copy serves.
    }
  }

  /** Follows the fill (each status call returns when it moved) until `ready` holds or it ended; a failed fill throws its error. */
  private async awaitFill(digest: ParsedDigest, progress: FillProgress, ready: (progress: FillProgress) => boolean): Promise<FillProgress> {
    const index = blobIndexStub(this.env, digest.digest);
    const deadline = Date.now() + FOLLOWER_PATIENCE_MS;
    for (;;) {
      if (progress.state === "failed") throw fillError(progress.error, digest.digest);
      if (progress.state !== "running" || ready(progress)) return progress;
      if (Date.now() > deadline) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `blob ${digest.digest} is still being fetched from ${this.target.upstream.name}; retry`, undefined, 503, { "Retry-After": "10" });
      }
      progress = await index.fillStatus(progress.fillId, { committed: progress.committed, size: progress.size });
    }
  }

  private sizeDisagrees(digest: string, upstream: number, stored: number): OciError {
    return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.target.upstream.name} reports ${upstream} bytes for blob ${digest}, not ${stored}`, { upstream: this.target.upstream.name }, 502);
  }
}
