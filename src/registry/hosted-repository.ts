// A repository whose content is pushed to Berth. State lives in its
// RepositoryDO; bytes live in R2 under keys the BlobIndexDO vouches for.

import { OciError, unwrap } from "../http/errors";
import { digestBytes, looksLikeDigest, parseDigest } from "../oci/digest";
import { parseManifest } from "../oci/manifest";
import { assertTag, isValidName } from "../oci/names";
import { blobIndexStub } from "./blob-index-do";
import { MAX_SINGLE_PUT, storeStream, storeWhole, type StoredBlob } from "./blob-writer";
import { catalogStub } from "./catalog-do";
import { readObject } from "./object-reader";
import { repositoryStub } from "./repository-do";
import { StoredRepository, manifestWrite } from "./stored-repository";
import type { BlobContent, BlobInfo, ByteRange, ManifestContent, ManifestInfo, PutManifestResult, Repository, UploadStatus } from "./repository";
import { newUploadSession, type UploadSession } from "./upload-session";
import { UploadWriter, deleteUploadData } from "./upload-writer";
import type { BlobBody } from "../streams/chunk-reader";

export class HostedRepository extends StoredRepository implements Repository {
  readonly kind = "hosted";

  constructor(
    env: Env,
    name: string,
    private readonly actor: string | null = null,
  ) {
    super(env, name);
  }

  // ── manifests ──────────────────────────────────────────────────────────

  async getManifest(reference: string): Promise<ManifestContent> {
    return unwrap(await this.state.getManifest(reference));
  }

  async headManifest(reference: string): Promise<ManifestInfo> {
    return unwrap(await this.state.resolve(reference));
  }

  async putManifest(reference: string, bytes: Uint8Array, contentType: string | null, tags: string[]): Promise<PutManifestResult> {
    const parsed = parseManifest(bytes, contentType);
    let digest: string;
    const allTags = tags.map(assertTag);
    if (looksLikeDigest(reference)) {
      const wanted = parseDigest(reference);
      digest = await digestBytes(bytes, wanted.algorithm);
      if (digest !== wanted.digest) throw new OciError("DIGEST_INVALID", `manifest digest is ${digest}, not ${reference}`);
    } else {
      allTags.unshift(assertTag(reference));
      digest = await digestBytes(bytes);
    }
    const outcome = unwrap(await this.state.putManifest(manifestWrite(digest, bytes, parsed), [...new Set(allTags)], this.actor));
    if (outcome.firstManifest) await catalogStub(this.env).add(this.name);
    return { digest: outcome.digest, mediaType: outcome.mediaType, size: outcome.size, subject: outcome.subject };
  }

  async deleteManifest(reference: string): Promise<void> {
    const outcome = unwrap(await this.state.deleteManifest(reference, this.actor));
    if (outcome.emptied) await catalogStub(this.env).remove(this.name);
  }

  // ── blobs ──────────────────────────────────────────────────────────────

  async statBlob(digest: string): Promise<BlobInfo> {
    const link = await this.state.statBlob(digest);
    if (!link) throw new OciError("BLOB_UNKNOWN", `blob ${digest} is unknown to ${this.name}`);
    return { digest: link.digest, size: link.size };
  }

  async getBlob(digest: string, range: ((size: number) => ByteRange | undefined) | undefined): Promise<BlobContent> {
    const link = await this.state.statBlob(digest);
    if (!link) throw new OciError("BLOB_UNKNOWN", `blob ${digest} is unknown to ${this.name}`);
    const wanted = range?.(link.size);
    const body = await readObject(this.env.BLOBS, link.key, link.size, wanted);
    if (!body) throw new OciError("BLOB_UNKNOWN", `blob ${digest} is missing from storage`);
    return { digest, size: link.size, body, range: wanted };
  }

  async deleteBlob(digest: string): Promise<void> {
    // The RepositoryDO drops its link and releases the global one (local before global, see blob-release.ts).
    unwrap(await this.state.unlinkBlob(digest));
  }

  async mountBlob(digest: string, from: string): Promise<boolean> {
    if (!isValidName(from) || from === this.name) return false;
    const source = await repositoryStub(this.env, from).statBlob(digest);
    if (!source) return false;
    const location = await blobIndexStub(this.env, digest).linkExisting(digest, this.name);
    if (!location) return false;
    await this.state.linkBlob(digest, location.size, location.key);
    return true;
  }

  // ── uploads ────────────────────────────────────────────────────────────

  async startUpload(): Promise<UploadStatus> {
    const session = newUploadSession();
    await this.state.createUpload(session);
    return { id: session.id, offset: 0 };
  }

  async uploadStatus(id: string): Promise<UploadStatus> {
    const session = unwrap(await this.state.getUpload(id));
    return { id, offset: session.offset };
  }

  async appendUpload(id: string, body: BlobBody | null, start: number | undefined): Promise<UploadStatus> {
    const { session, lease } = unwrap(await this.state.beginAppend(id, start));
    let next: UploadSession;
    let writer: UploadWriter | undefined;
    try {
      // A PATCH without Content-Range may be the whole upload (docker, podman, skopeo): hash it natively.
      writer = await UploadWriter.open(this.env.BLOBS, session, start === undefined);
      if (body) await writer.write(body);
      next = await writer.suspend();
      unwrap(await this.state.commitAppend(next, lease));
    } catch (error) {
      await writer?.discard();
      await this.state.abortAppend(id, lease);
      throw error;
    }
    if (session.tailKey && session.tailKey !== next.tailKey) await this.env.BLOBS.delete(session.tailKey);
    return { id, offset: next.offset };
  }

  async completeUpload(id: string, digest: string, body: BlobBody | null, length: number | undefined, start: number | undefined): Promise<BlobInfo> {
    const wanted = parseDigest(digest);
    const { session, lease } = unwrap(await this.state.beginAppend(id, start));
    let stored: StoredBlob;
    try {
      // A body of declared length comes as the platform's stream (http/request-body.ts), which R2 takes natively.
      stored = session.offset === 0 && body instanceof ReadableStream && length !== undefined && length <= MAX_SINGLE_PUT
        ? await storeWhole(this.env, this.name, wanted, body, length)
        : await storeStream(this.env, this.name, wanted, session, body, undefined, async () => unwrap(await this.state.holdsLease(id, lease)));
    } catch (error) {
      // A wrong digest ends the session (nothing of it stays visible); other failures leave it resumable.
      if (error instanceof OciError && error.code === "DIGEST_INVALID") await this.dropSession(id);
      else await this.state.abortAppend(id, lease);
      throw error;
    }
    await this.state.linkBlob(stored.digest, stored.size, stored.key);
    await this.dropSession(id);
    return { digest: stored.digest, size: stored.size };
  }

  async cancelUpload(id: string): Promise<void> {
    const session = unwrap(await this.state.endUpload(id));
    await deleteUploadData(this.env.BLOBS, session);
  }

  async putBlob(digest: string, body: BlobBody | null, length: number | undefined): Promise<BlobInfo> {
    const wanted = parseDigest(digest);
    const stored = length !== undefined && length <= MAX_SINGLE_PUT && (body === null || body instanceof ReadableStream)
      ? await storeWhole(this.env, this.name, wanted, body ?? new Uint8Array(0), length)
      : await storeStream(this.env, this.name, wanted, newUploadSession(), body);
    await this.state.linkBlob(stored.digest, stored.size, stored.key);
    return { digest: stored.digest, size: stored.size };
  }


  private async dropSession(id: string): Promise<void> {
    const ended = await this.state.endUpload(id);
    if (ended.ok) await deleteUploadData(this.env.BLOBS, ended.value);
  }
}

