// The one interface handlers speak to. Hosted repositories keep their state in
// a RepositoryDO; cached repositories implement the same interface by filling
// that state from an upstream registry on demand. Every method throws OciError
// for anything a client should see.

import type { Descriptor } from "../oci/manifest";
import type { BlobBody } from "../streams/chunk-reader";

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface ByteRange {
  /** Inclusive first byte. */
  start: number;
  /** Inclusive last byte. */
  end: number;
}

export interface BlobContent extends BlobInfo {
  body: ReadableStream<Uint8Array>;
  /** Present when a range was requested and satisfied. */
  range?: ByteRange;
}

export interface ManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
  subject?: string;
}

/** What a HEAD tells about a manifest. */
export interface ManifestHead extends ManifestInfo {
  /** Set by caches serving a tag they could not revalidate (sent as a Warning header). */
  warning?: string;
}

export interface ManifestContent extends ManifestHead {
  bytes: Uint8Array;
}

export interface PutManifestResult extends ManifestInfo {}

export interface Page<T> {
  items: T[];
  /** Set when more items follow: the `last` value for the next page. */
  next?: string;
}

export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

export interface TagDetail {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  updatedAt: number;
}

export interface TagMove {
  tag: string;
  previousDigest: string | null;
  newDigest: string | null;
  at: number;
  actor: string | null;
}

export interface Repository {
  readonly name: string;
  /** "hosted" for pushed content, "cached" for an upstream mirror. */
  readonly kind: "hosted" | "cached";

  getManifest(reference: string): Promise<ManifestContent>;
  headManifest(reference: string): Promise<ManifestHead>;
  putManifest(reference: string, bytes: Uint8Array, contentType: string | null, tags: string[]): Promise<PutManifestResult>;
  deleteManifest(reference: string): Promise<void>;
  listTags(limit: number | undefined, last: string | undefined): Promise<Page<string>>;
  /** One page of the manifests whose subject is `digest`, in digest order, after `last`. */
  referrers(digest: string, artifactType: string | undefined, limit: number, last: string | undefined): Promise<Page<Descriptor>>;
  /** One page of tags with their manifests, in lexical order after `last` (JSON API). */
  tagDetails(limit: number, last: string | undefined): Promise<Page<TagDetail>>;
  /** One page of the manifests that no tag and no index names, oldest first; `last` is a previous page's `next`. */
  danglingManifests(limit: number, last: string | undefined): Promise<Page<ManifestInfo & { createdAt: number }>>;
  /** True when the repository has any tag; reads only this repository's own state (never an upstream). */
  hasTags(): Promise<boolean>;
  /** Tag moves, newest first. */
  tagHistory(tag: string | undefined, limit: number): Promise<TagMove[]>;

  statBlob(digest: string): Promise<BlobInfo>;
  getBlob(digest: string, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent>;
  deleteBlob(digest: string): Promise<void>;

  /** Cross-repository mount: true when mounted, false when the caller should fall back to an upload. */
  mountBlob(digest: string, from: string): Promise<boolean>;
  startUpload(): Promise<UploadStatus>;
  uploadStatus(id: string): Promise<UploadStatus>;
  /** Appends a chunk. `start` is the Content-Range start when given. */
  appendUpload(id: string, body: BlobBody | null, start: number | undefined): Promise<UploadStatus>;
  /** Appends an optional last chunk (`start`: its Content-Range start), verifies the digest and makes the blob visible. */
  completeUpload(id: string, digest: string, body: BlobBody | null, length: number | undefined, start: number | undefined): Promise<BlobInfo>;
  cancelUpload(id: string): Promise<void>;
  /** Single-request upload of a whole blob (POST ?digest=). */
  putBlob(digest: string, body: BlobBody | null, length: number | undefined): Promise<BlobInfo>;
}
