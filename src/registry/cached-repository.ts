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
// - A cold blob streams to the client and into R2 from one upstream fetch;
//   concurrent requests for it wait for that fetch (BlobIndexDO fill lease).

import { readObject } from "./object-reader";
import { OciError, unwrap } from "../http/errors";
import { looksLikeDigest, parseDigest, type ParsedDigest } from "../oci/digest";
import { parseManifest } from "../oci/manifest";
import { UpstreamClient } from "../upstream/client";
import { withKnownLength } from "../upstream/body";
import type { UpstreamTarget } from "../upstream/config";
import { RecordingObserver, type WaitUntil } from "../upstream/recording-observer";
import { FILL_LEASE_MS, blobIndexStub } from "./blob-index-do";
import { MAX_SINGLE_PUT, storeStream, storeWhole, type StoredBlob } from "./blob-writer";
import { catalogStub } from "./catalog-do";
import { StoredRepository, manifestWrite } from "./stored-repository";
import { pacedTee } from "./paced-tee";
import type { BlobContent, BlobInfo, ByteRange, ManifestContent, ManifestHead, ManifestInfo, PutManifestResult, Repository, UploadStatus } from "./repository";
import { newUploadSession } from "./upload-session";

/** Upstream failures that let a cached tag be served stale: unreachable, 5xx, timeouts, 429. */
function isUnavailable(error: unknown): error is OciError {
  return error instanceof OciError && (error.code === "UPSTREAM_UNAVAILABLE" || error.code === "TOOMANYREQUESTS");
}

/** The same bytes as a plain JS stream (errors and cancellation pass through), observed. */
function observed(
  source: ReadableStream<Uint8Array>,
  hooks: { onChunk: () => void; onError: (error: unknown) => void },
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          hooks.onError(error);
          throw error;
        }
        if (result.done) {
          controller.close();
        } else {
          hooks.onChunk();
          controller.enqueue(result.value);
          // Yield to the event loop once per chunk. When the upstream is ahead of us, every read
          // of its socket succeeds at once and the fill's read→tee→write chain never lets the
          // runtime poll for other I/O: under wrangler dev, other requests (a blob GET that would
          // start its own fill, even GET /v2/) got no response for a minute (issue #11).
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** How long a request waits for another request's fill of the same blob. */
const FOLLOWER_PATIENCE_MS = 10 * 60 * 1000;

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
    // The client is about to fetch it: start the fill now, answer with its size.
    const blob = await this.getBlob(digest, undefined);
    await blob.body.cancel().catch(() => undefined);
    return { digest, size: blob.size };
  }

  async getBlob(digest: string, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const link = await this.state.statBlob(digest);
    if (link) {
      const wanted = range?.(link.size);
      this.observer.cacheHit(wanted ? wanted.end - wanted.start + 1 : link.size);
      return this.readStored(digest, link.key, link.size, wanted);
    }
    try {
      return await this.fill(parseDigest(digest), range);
    } catch (error) {
      // One answer whether or not another repository stored the blob (the upstream was asked
      // with a HEAD or a GET, whose 404s read differently): existence elsewhere must not show.
      if (error instanceof OciError && error.code === "BLOB_UNKNOWN") {
        throw new OciError("BLOB_UNKNOWN", `blob ${digest} of ${this.target.repository} not found at upstream ${this.target.upstream.name}`, { upstream: this.target.upstream.name });
      }
      throw error;
    }
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
  private async adoptStored(digest: string, size: number): Promise<{ key: string; size: number } | null> {
    const index = blobIndexStub(this.env, digest);
    if (!(await index.isLinkedTo(this.name)) && !(await this.state.namesBlob(digest))) {
      const upstream = await this.client.headBlob(this.target.repository, digest);
      if (upstream.size !== size) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.target.upstream.name} reports ${upstream.size} bytes for blob ${digest}, not ${size}`, { upstream: this.target.upstream.name }, 502);
      }
    }
    const location = await index.linkExisting(digest, this.name);
    if (location) await this.state.linkBlob(digest, location.size, location.key);
    return location;
  }

  /** One upstream fetch per uncached blob, however many clients ask at once. */
  private async fill(digest: ParsedDigest, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const index = blobIndexStub(this.env, digest.digest);
    const deadline = Date.now() + FOLLOWER_PATIENCE_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      const claim = await index.claimFill(digest.digest);
      if (claim.state === "leader") return this.lead(digest, claim.token, range);
      if (claim.state === "stored") {
        const location = await this.adoptStored(digest.digest, claim.size);
        if (!location) continue;
        const wanted = range?.(location.size);
        this.observer.cacheHit(wanted ? wanted.end - wanted.start + 1 : location.size);
        return this.readStored(digest.digest, location.key, location.size, wanted);
      }
      if (Date.now() > deadline) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `blob ${digest.digest} is still being fetched from ${this.target.upstream.name}; retry`, undefined, 503, { "Retry-After": "10" });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** This request fetches the blob: stream it to the client while R2 stores it. */
  private async lead(digest: ParsedDigest, token: string, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const index = blobIndexStub(this.env, digest.digest);
    // The lease is renewed only while bytes arrive. A leader that stopped making progress —
    // an upstream that went quiet, a client that stopped reading (the tee paces the upstream to
    // it), a storage call that never returns — lets it lapse, and a waiting request takes over
    // instead of waiting out FOLLOWER_PATIENCE_MS behind it.
    let lastProgress = Date.now();
    const renew = setInterval(() => {
      if (Date.now() - lastProgress < FILL_LEASE_MS) void index.renewFill(token).catch(() => undefined);
    }, FILL_LEASE_MS / 3);
    let response: Response;
    try {
      response = await this.client.getBlob(this.target.repository, digest.digest);
    } catch (error) {
      clearInterval(renew);
      await index.abandonFill(token);
      throw error;
    }
    const header = response.headers.get("Content-Length");
    const length = header === null ? undefined : Number(header);
    // A plain stream (workerd cannot pipe the client's FixedLengthStream into storeWhole's own)
    // that notes progress and the upstream's own failure.
    let upstreamError: unknown;
    const source = observed(response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() }), {
      onChunk: () => {
        lastProgress = Date.now();
      },
      onError: (error) => {
        upstreamError = error;
      },
    });

    const store = async (body: ReadableStream<Uint8Array>): Promise<StoredBlob> => {
      try {
        const stored = length !== undefined && length <= MAX_SINGLE_PUT
          ? await storeWhole(this.env, this.name, digest, body, length, token)
          : await storeStream(this.env, this.name, digest, newUploadSession(), body, token);
        await this.state.linkBlob(stored.digest, stored.size, stored.key);
        return stored;
      } catch (error) {
        await index.abandonFill(token).catch(() => undefined);
        // storeWhole reports a broken body as a digest mismatch of an upload; the client
        // should hear what the upstream did.
        throw upstreamError === undefined ? error : this.upstreamFailure(upstreamError);
      } finally {
        clearInterval(renew);
      }
    };

    if (length === undefined || range) {
      // The size (for the range, or for the headers) is known only once stored.
      const stored = await store(source);
      const wanted = range?.(stored.size);
      this.observer.cacheMiss(wanted ? wanted.end - wanted.start + 1 : stored.size);
      return this.readStored(digest.digest, stored.key, stored.size, wanted);
    }
    const [toClient, toStore] = pacedTee(source);
    this.waitUntil(store(toStore).catch((error) => console.warn("cache fill failed", this.name, digest.digest, String(error))));
    this.observer.cacheMiss(length);
    // A tee branch is a plain stream: without a FixedLengthStream the Worker would answer with
    // chunked encoding and drop the Content-Length header the handler sets.
    return { digest: digest.digest, size: length, body: withKnownLength(toClient, length) };
  }

  /**
   * The upstream body's failure as the client should see it. The client's guard raised an
   * OciError, but through the FixedLengthStream it arrives as a plain Error with its text.
   */
  private upstreamFailure(error: unknown): OciError {
    if (error instanceof OciError) return error;
    const upstream = this.target.upstream.name;
    const text = (error instanceof Error ? error.message : String(error)).replace(/^OciError: /, "");
    return new OciError("UPSTREAM_UNAVAILABLE", text.startsWith(`upstream ${upstream}`) ? text : `upstream ${upstream}: ${text}`, { upstream }, 502);
  }

}

