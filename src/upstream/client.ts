// The client for one upstream registry: HEAD/GET manifests and streaming GET blobs, with token
// auth, manual redirects and honest errors (see upstream-error.ts). A HEAD does not count against
// Docker Hub's pull limit, so revalidation should use headManifest.

import { OciError } from "../http/errors";
import { digestBytes, looksLikeDigest, parseDigest, type ParsedDigest } from "../oci/digest";
import { MANIFEST_MEDIA_TYPES, MediaType, baseMediaType } from "../oci/media-types";
import { assertName, assertTag } from "../oci/names";
import { guardBody, readAll, withKnownLength } from "./body";
import { type UpstreamConfig, normalizeRepository } from "./config";
import { noopObserver, safeObserver, type UpstreamObserver, type UpstreamRequestKind } from "./observer";
import { CacheApiTokenCache, type TokenCache } from "./token-cache";
import { TokenSource, pullScope } from "./token-source";
import { errorFromResponse } from "./upstream-error";
import { defaultFetcher, type Fetcher, type UpstreamFetchResult, upstreamFetch } from "./upstream-fetch";
import { WwwAuthenticateError, parseWwwAuthenticate } from "./www-authenticate";

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(", ");

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface UpstreamClientOptions {
  observer?: UpstreamObserver;
  /** Defaults to the Workers Cache API. */
  tokenCache?: TokenCache;
  fetcher?: Fetcher;
  /** Deadline for response headers; defaults to the upstream's timeoutSeconds (30 s). */
  headersTimeoutMs?: number;
  /** Longest pause between body chunks; defaults to the headers deadline. */
  bodyIdleTimeoutMs?: number;
  maxRedirects?: number;
  maxManifestBytes?: number;
}

export interface UpstreamManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
}

export interface UpstreamManifest extends UpstreamManifestInfo {
  bytes: Uint8Array;
}

export class UpstreamClient {
  readonly upstream: UpstreamConfig;
  private readonly observer: UpstreamObserver;
  private readonly fetcher: Fetcher;
  private readonly tokens: TokenSource;
  private readonly headersTimeoutMs: number;
  private readonly bodyIdleTimeoutMs: number;
  private readonly maxRedirects: number;
  private readonly maxManifestBytes: number;

  constructor(upstream: UpstreamConfig, options: UpstreamClientOptions = {}) {
    this.upstream = upstream;
    this.observer = safeObserver(options.observer ?? noopObserver);
    this.fetcher = options.fetcher ?? defaultFetcher;
    this.headersTimeoutMs = options.headersTimeoutMs ?? upstream.timeoutSeconds * 1000;
    this.bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? this.headersTimeoutMs;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.tokens = new TokenSource(options.tokenCache ?? new CacheApiTokenCache(), {
      fetcher: this.fetcher,
      observer: this.observer,
      timeoutMs: this.headersTimeoutMs,
    });
  }

  /** Digest, media type and size of a manifest without downloading it (no pull counted on Docker Hub). */
  headManifest(repository: string, reference: string): Promise<UpstreamManifestInfo> {
    return this.reported(async () => {
      const repo = this.repository(repository);
      checkReference(reference);
      const what = `manifest ${repo}${separator(reference)}${reference}`;
      const { response } = await this.send("head-manifest", "HEAD", repo, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, what);
      if (response.status !== 200) throw await errorFromResponse(response, { upstream: this.upstream.name, what, notFound: "MANIFEST_UNKNOWN" });
      response.body?.cancel().catch(() => {});
      const header = response.headers.get("docker-content-digest");
      const length = parseLength(response.headers.get("content-length"));
      const mediaType = baseMediaType(response.headers.get("content-type"));
      // Without the digest or the size in the headers only the bytes can tell.
      if (!header || length === undefined) {
        const { bytes: _bytes, ...info } = await this.fetchManifest(repo, reference);
        return info;
      }
      const digest = this.headerDigest(header, what).digest;
      if (looksLikeDigest(reference) && parseDigest(reference).algorithm === parseDigest(digest).algorithm && digest !== reference) {
        throw this.corrupt(`${what}: upstream reports digest ${digest}`);
      }
      return { digest, mediaType, size: length };
    });
  }

  /** The manifest's bytes, verified against the requested digest or the upstream's Docker-Content-Digest. */
  getManifest(repository: string, reference: string): Promise<UpstreamManifest> {
    return this.reported(async () => {
      const repo = this.repository(repository);
      checkReference(reference);
      return this.fetchManifest(repo, reference);
    });
  }

  /** Size of a blob at the upstream (HEAD, redirects followed without credentials). */
  headBlob(repository: string, digest: string): Promise<{ digest: string; size: number }> {
    return this.reported(async () => {
      const repo = this.repository(repository);
      const parsed = parseDigest(digest);
      const what = `blob ${digest} of ${repo}`;
      const { response } = await this.send("head-blob", "HEAD", repo, `blobs/${digest}`, { Accept: "*/*", "Accept-Encoding": "identity" }, what);
      if (response.status !== 200) throw await errorFromResponse(response, { upstream: this.upstream.name, what, notFound: "BLOB_UNKNOWN" });
      response.body?.cancel().catch(() => {});
      const size = parseLength(response.headers.get("content-length"));
      if (size === undefined) throw this.corrupt(`${what}: HEAD answered without Content-Length`);
      return { digest: parsed.digest, size };
    });
  }

  /**
   * A blob as a streaming Response (200, Content-Length when the upstream sent one,
   * Docker-Content-Digest). The body errors instead of ending when the upstream's bytes are short,
   * long, stalled or do not hash to `digest`; the last chunk is held back until the hash matched.
   * With `start` > 0 the body begins at that byte (a Range request; an upstream that ignores it
   * and answers 200 has the first bytes skipped) and Content-Length counts the bytes from there;
   * only a body read from byte 0 can be checked against the digest, so a resumed one is not.
   */
  getBlob(repository: string, digest: string, start = 0): Promise<Response> {
    return this.reported(async () => {
      const repo = this.repository(repository);
      const parsed = parseDigest(digest);
      const what = `blob ${digest} of ${repo}`;
      const request: Record<string, string> = { Accept: "*/*", "Accept-Encoding": "identity" };
      if (start > 0) request.Range = `bytes=${start}-`;
      const { response } = await this.send("get-blob", "GET", repo, `blobs/${digest}`, request, what);
      const ranged = start > 0 && response.status === 206;
      if (response.status !== 200 && !ranged) throw await errorFromResponse(response, { upstream: this.upstream.name, what, notFound: "BLOB_UNKNOWN" });
      const header = response.headers.get("docker-content-digest");
      if (header && looksLikeDigest(header)) {
        const reported = this.headerDigest(header, what);
        if (reported.algorithm === parsed.algorithm && reported.digest !== parsed.digest) {
          response.body?.cancel().catch(() => {});
          throw this.corrupt(`${what}: upstream sent blob ${reported.digest}`);
        }
      }
      const length = parseLength(response.headers.get("content-length"));
      if (ranged) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range")?.trim() ?? "");
        if (!range || Number(range[1]) !== start || (length !== undefined && length !== Number(range[2]) - start + 1)) {
          response.body?.cancel().catch(() => {});
          throw this.corrupt(`${what}: asked for bytes from ${start}, got Content-Range "${response.headers.get("content-range") ?? ""}"`);
        }
      }
      const headers = new Headers({
        "Content-Type": response.headers.get("content-type") || "application/octet-stream",
        "Docker-Content-Digest": parsed.digest,
      });
      const source = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
      let guarded = guardBody(source, {
        upstream: this.upstream.name,
        what,
        idleTimeoutMs: this.bodyIdleTimeoutMs,
        expectedLength: length,
        digest: ranged ? undefined : parsed,
        onEnd: (bytes, error) => {
          this.observer.onBytes(bytes);
          if (error) this.observer.onError(error.message);
        },
      });
      let remaining = length;
      if (start > 0 && !ranged) {
        if (length !== undefined && length < start) {
          guarded.cancel().catch(() => {});
          throw this.corrupt(`${what}: ${length} bytes, but the fill already has ${start}`);
        }
        guarded = guarded.pipeThrough(skipBytes(start));
        remaining = length === undefined ? undefined : length - start;
      }
      if (remaining === undefined) return new Response(guarded, { status: 200, headers });
      headers.set("Content-Length", String(remaining));
      return new Response(withKnownLength(guarded, remaining), { status: 200, headers });
    });
  }

  private async fetchManifest(repo: string, reference: string): Promise<UpstreamManifest> {
    const what = `manifest ${repo}${separator(reference)}${reference}`;
    const { response } = await this.send("get-manifest", "GET", repo, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT, "Accept-Encoding": "identity" }, what);
    if (response.status !== 200) throw await errorFromResponse(response, { upstream: this.upstream.name, what, notFound: "MANIFEST_UNKNOWN" });
    const length = parseLength(response.headers.get("content-length"));
    if (length !== undefined && length > this.maxManifestBytes) {
      response.body?.cancel().catch(() => {});
      throw this.tooLarge(what);
    }
    const bytes = response.body
      ? await readAll(
          guardBody(response.body, { upstream: this.upstream.name, what, idleTimeoutMs: this.bodyIdleTimeoutMs, expectedLength: length }),
          this.maxManifestBytes,
          () => this.tooLarge(what),
        )
      : new Uint8Array();
    this.observer.onBytes(bytes.byteLength);

    const header = response.headers.get("docker-content-digest");
    const expected: ParsedDigest | undefined = looksLikeDigest(reference) ? parseDigest(reference) : header ? this.headerDigest(header, what) : undefined;
    const digest = await digestBytes(bytes, expected?.algorithm ?? "sha256");
    if (expected && digest !== expected.digest) throw this.corrupt(`${what}: content has digest ${digest}, expected ${expected.digest}`);
    // Pulled by a sha512 digest: report it as asked; otherwise the upstream's (or our) sha256.
    return { bytes, digest, mediaType: manifestMediaType(response.headers.get("content-type"), bytes, what, this.upstream.name), size: bytes.byteLength };
  }

  /** Sends with the cached credentials; on a 401 from the upstream answers its challenge once and retries. */
  private async send(kind: UpstreamRequestKind, method: "GET" | "HEAD", repo: string, path: string, headers: Record<string, string>, what: string): Promise<UpstreamFetchResult> {
    const scope = pullScope(repo);
    const url = `${this.upstream.url}/v2/${repo}/${path}`;
    const attempt = (authorization: string | undefined): Promise<UpstreamFetchResult> =>
      upstreamFetch({
        upstream: this.upstream,
        kind,
        method,
        url,
        headers,
        authorization,
        authOrigin: new URL(this.upstream.url).origin,
        timeoutMs: this.headersTimeoutMs,
        maxRedirects: this.maxRedirects,
        fetcher: this.fetcher,
        observer: this.observer,
        what,
      });

    const first = await attempt(await this.tokens.cachedAuthorization(this.upstream, scope));
    if (first.response.status !== 401 || !first.fromAuthOrigin) return first;
    const challengeHeader = first.response.headers.get("www-authenticate");
    if (!challengeHeader) return first;
    let authorization: string | undefined;
    try {
      authorization = await this.tokens.authorize(this.upstream, parseWwwAuthenticate(challengeHeader), scope);
    } catch (error) {
      first.response.body?.cancel().catch(() => {});
      if (error instanceof WwwAuthenticateError) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.upstream.name} sent an unreadable WWW-Authenticate for ${what}: ${error.message}`, { upstream: this.upstream.name }, 502);
      }
      throw error;
    }
    if (authorization === undefined) return first;
    first.response.body?.cancel().catch(() => {});
    return attempt(authorization);
  }

  private repository(repository: string): string {
    return normalizeRepository(this.upstream, assertName(repository));
  }

  private headerDigest(header: string, what: string): ParsedDigest {
    try {
      return parseDigest(header.trim());
    } catch {
      throw this.corrupt(`${what}: upstream sent an invalid Docker-Content-Digest "${header}"`);
    }
  }

  private corrupt(message: string): OciError {
    return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.upstream.name}: ${message}`, { upstream: this.upstream.name }, 502);
  }

  private tooLarge(what: string): OciError {
    return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.upstream.name}: ${what} is larger than ${this.maxManifestBytes} bytes`, { upstream: this.upstream.name }, 502);
  }

  /** Reports failures other than "not found" to the observer. */
  private async reported<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const oci = error instanceof OciError ? error : new OciError("UPSTREAM_UNAVAILABLE", `upstream ${this.upstream.name}: ${error instanceof Error ? error.message : String(error)}`, { upstream: this.upstream.name }, 502);
      if (!oci.code.endsWith("_UNKNOWN") && !oci.code.endsWith("_INVALID")) this.observer.onError(oci.message);
      throw oci;
    }
  }
}

/** Drops the first `count` bytes of a stream (an upstream that answered a Range request with 200). */
function skipBytes(count: number): TransformStream<Uint8Array, Uint8Array> {
  let left = count;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (left >= chunk.byteLength) {
        left -= chunk.byteLength;
        return;
      }
      controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
      left = 0;
    },
  });
}

function checkReference(reference: string): void {
  if (looksLikeDigest(reference)) parseDigest(reference);
  else assertTag(reference);
}

function separator(reference: string): string {
  return looksLikeDigest(reference) ? "@" : ":";
}

function parseLength(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const length = Number(value.trim());
  return Number.isSafeInteger(length) ? length : undefined;
}

/** The Content-Type when it is a manifest type, else the body's mediaType, else inferred from its shape. */
function manifestMediaType(contentType: string | null, bytes: Uint8Array, what: string, upstream: string): string {
  const header = baseMediaType(contentType);
  if (MANIFEST_MEDIA_TYPES.includes(header)) return header;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream}: ${what} is not JSON`, { upstream }, 502);
  }
  const declared = typeof json === "object" && json !== null ? (json as { mediaType?: unknown }).mediaType : undefined;
  const mediaType = typeof declared === "string" ? declared : typeof json === "object" && json !== null && "manifests" in json ? MediaType.OciIndex : MediaType.OciManifest;
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream}: ${what} has unsupported media type "${mediaType}"`, { upstream }, 502);
  }
  return mediaType;
}
