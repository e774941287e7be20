// Streams upload chunks into R2 without holding a blob in memory: bytes are
// cut into PART_SIZE multipart parts (at most two part buffers live at once),
// and whatever does not fill a part is parked in a small tail object until the
// next chunk. The hash state travels with the session (upload-hash.ts) so a
// later request can verify the digest, in most cases without re-reading the blob.

import { chunkReader, type BlobBody } from "../streams/chunk-reader";
import { deletePrefix } from "./blob-keys";
import { UploadHash } from "./upload-hash";
import { PART_SIZE, tailSize, uploadPrefix, type UploadSession } from "./upload-session";

/** The blob as it stands when an upload ends; `sha256` is undefined when the blob must be re-read to know it. */
export type FinishedUpload =
  | { kind: "small"; bytes: Uint8Array }
  | { kind: "assembled"; key: string; size: number; sha256: string | undefined };

export class UploadWriter {
  private readonly hash: UploadHash;
  /** Grows as bytes arrive (up to PART_SIZE): a small upload never holds a whole part buffer. */
  private buffer = new Uint8Array(0);
  /** The buffer of the part being uploaded, reused for the part after next. */
  private spare: Uint8Array<ArrayBuffer> | undefined;
  private filled = 0;
  private inFlight: Promise<void> | undefined;
  private multipart: R2MultipartUpload | undefined;
  private readonly parts: { partNumber: number; etag: string }[];
  private offset: number;
  private readonly writerId = crypto.randomUUID().slice(0, 8);
  /** The tail object suspend() wrote, until the state naming it is committed. */
  private parkedTail: string | undefined;

  private constructor(
    private readonly bucket: R2Bucket,
    private readonly session: UploadSession,
    preferNativeHash: boolean,
  ) {
    this.hash = new UploadHash(session, preferNativeHash);
    this.parts = [...session.parts];
    this.offset = session.offset;
  }

  /**
   * Opens a writer positioned at the end of the session's data. `preferNativeHash`: this request
   * may well carry the whole upload (no Content-Range; see upload-hash.ts).
   */
  static async open(bucket: R2Bucket, session: UploadSession, preferNativeHash: boolean): Promise<UploadWriter> {
    const writer = new UploadWriter(bucket, session, preferNativeHash);
    if (session.multipartId && session.multipartKey) {
      writer.multipart = bucket.resumeMultipartUpload(session.multipartKey, session.multipartId);
    }
    const size = tailSize(session);
    if (size > 0) {
      if (!session.tailKey) throw new Error(`upload ${session.id} lost its tail`);
      const tail = await bucket.get(session.tailKey);
      if (!tail) throw new Error(`upload ${session.id} tail object is missing`);
      const bytes = new Uint8Array(await tail.arrayBuffer());
      if (bytes.length !== size) throw new Error(`upload ${session.id} tail has ${bytes.length} bytes, expected ${size}`);
      writer.makeRoom(size);
      writer.buffer.set(bytes);
      writer.filled = size;
    }
    return writer;
  }

  get received(): number {
    return this.offset;
  }

  /** Bytes of memory held for the part being filled (grows with the data, at most PART_SIZE). */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Reads a whole request body into the upload (workerd enforces a declared Content-Length). */
  async write(body: BlobBody): Promise<number> {
    const reader = chunkReader(body);
    let count = 0;
    for (;;) {
      const value = await reader.read();
      if (value === undefined) break;
      count += value.length;
      await this.hash.update(value);
      this.offset += value.length;
      let at = 0;
      while (at < value.length) {
        const take = Math.min(PART_SIZE - this.filled, value.length - at);
        this.makeRoom(take);
        this.buffer.set(value.subarray(at, at + take), this.filled);
        this.filled += take;
        at += take;
        if (this.filled === PART_SIZE) await this.flushPart();
      }
    }
    return count;
  }

  /** Ends a request that is not the last: parks the tail and returns the state to persist. */
  async suspend(): Promise<UploadSession> {
    await this.inFlight;
    let tailKey: string | undefined;
    if (this.filled > 0) {
      // The key is this writer's own: neither a crash between this put and the state commit nor
      // a writer whose lease expired can make the committed state point at other bytes.
      tailKey = `${uploadPrefix(this.session.id)}tail-${this.offset}-${this.writerId}`;
      await this.bucket.put(tailKey, this.buffer.subarray(0, this.filled));
      this.parkedTail = tailKey;
    }
    return {
      id: this.session.id,
      offset: this.offset,
      ...(await this.hash.state()),
      multipartKey: this.multipart?.key,
      multipartId: this.multipart?.uploadId,
      parts: this.parts,
      tailKey,
    };
  }

  /** Ends the upload: small blobs come back as bytes, larger ones as a completed R2 object. */
  async finish(): Promise<FinishedUpload> {
    await this.inFlight;
    if (!this.multipart) {
      this.hash.abandon();
      return { kind: "small", bytes: this.buffer.subarray(0, this.filled) };
    }
    const sha256 = await this.hash.digest();
    if (this.filled > 0) {
      const part = await this.multipart.uploadPart(this.parts.length + 1, this.buffer.subarray(0, this.filled));
      this.parts.push({ partNumber: part.partNumber, etag: part.etag });
    }
    await this.multipart.complete(this.parts);
    return { kind: "assembled", key: this.multipart.key, size: this.offset, sha256 };
  }

  /**
   * Undoes what this request wrote that no committed state will point at: a multipart upload it
   * started and the tail it parked. (Parts it added to the session's own multipart upload are
   * replaced by the next chunk's.)
   */
  async discard(): Promise<void> {
    this.hash.abandon();
    await this.inFlight?.catch(() => undefined);
    if (this.multipart && !this.session.multipartId) await this.multipart.abort().catch(() => undefined);
    if (this.parkedTail && this.parkedTail !== this.session.tailKey) await this.bucket.delete(this.parkedTail).catch(() => undefined);
  }

  private makeRoom(bytes: number): void {
    const needed = this.filled + bytes;
    if (needed <= this.buffer.length) return;
    const grown = new Uint8Array(Math.min(PART_SIZE, Math.max(needed, this.buffer.length * 2, 64 * 1024)));
    grown.set(this.buffer.subarray(0, this.filled));
    this.buffer = grown;
  }

  private async flushPart(): Promise<void> {
    await this.inFlight;
    this.multipart ??= await this.bucket.createMultipartUpload(`assembled/${this.session.id}`);
    const multipart = this.multipart;
    const partNumber = this.parts.length + 1;
    const full = this.buffer;
    // Upload this part while the next one fills. The two buffers take turns: allocating one
    // per part leaves the isolate's external memory to the garbage collector's pace, and a
    // 256 MiB PATCH then outgrew the isolate's memory limit.
    this.buffer = this.spare ?? new Uint8Array(PART_SIZE);
    this.spare = full;
    this.filled = 0;
    const slot = { partNumber, etag: "" };
    this.parts.push(slot);
    this.inFlight = multipart.uploadPart(partNumber, full).then((part) => {
      slot.etag = part.etag;
    });
  }
}

/** Removes everything an upload session left in R2 except an assembled blob that was kept. */
export async function deleteUploadData(bucket: R2Bucket, session: UploadSession): Promise<void> {
  if (session.multipartId && session.multipartKey) {
    await bucket
      .resumeMultipartUpload(session.multipartKey, session.multipartId)
      .abort()
      .catch(() => undefined);
  }
  await deletePrefix(bucket, uploadPrefix(session.id));
}
