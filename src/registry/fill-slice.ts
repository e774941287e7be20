// One slice of a cache fill, run by the blob's BlobIndexDO in its alarm (see fill-jobs.ts): GET
// the blob from the upstream from the first byte not yet stored (a Range request after the
// first slice) and store it in segments (segmented-object.ts) under the fill's own prefix. A
// segment counts as committed once it is stored; followers read it from then on, and when the
// fill is done the segments are the blob. A partial segment at a slice's end is dropped and
// fetched again. Blobs of at most one segment are put whole, with R2's own digest check.

import { OciError } from "../http/errors";
import { parseDigest, type ParsedDigest } from "../oci/digest";
import { chunkReader } from "../streams/chunk-reader";
import { UpstreamClient } from "../upstream/client";
import type { UpstreamConfig } from "../upstream/config";
import { RecordingObserver, type WaitUntil } from "../upstream/recording-observer";
import { contentKey } from "./blob-keys";
import { isChecksumMismatch } from "./blob-writer";
import { hashObject } from "./object-reader";
import { deleteObject, SEGMENT_BYTES, segmentKey } from "./segmented-object";

/** A slice lets the object's other calls run at least this often. */
const YIELD_EVERY_MS = 20;

/** What a slice needs to know about its fill job (persisted by the BlobIndexDO). */
export interface FillJobState {
  id: string;
  digest: string;
  upstream: UpstreamConfig;
  upstreamRepository: string;
  size: number | null;
  /** Bytes stored as whole segments (a multiple of SEGMENT_BYTES). */
  committed: number;
}

export type SliceOutcome =
  | { kind: "done"; key: string; size: number }
  /** The slice's time is up; the next one continues with a Range request. */
  | { kind: "paused" }
  /** `beforeBody`: the upstream did not answer with the blob (headers phase). */
  | { kind: "broken"; error: OciError; permanent: boolean; beforeBody: boolean };

export interface SliceHooks {
  /** The upstream answered; `size` is the blob's size when it sent a length. */
  sized(size: number | null): void;
  /** A segment is stored: persist the progress (a later slice resumes from here). */
  committed(committed: number): void;
}

/** The segmented key a fill stores the blob under (followers read its segments while it runs). */
export function fillKey(digest: ParsedDigest, fillId: string): string {
  return `fills/${digest.hex}/${fillId}/`;
}

export async function runFillSlice(env: Env, job: FillJobState, deadline: number, hooks: SliceHooks, waitUntil: WaitUntil): Promise<SliceOutcome> {
  const digest = parseDigest(job.digest);
  const upstream = job.upstream.name;
  const client = new UpstreamClient(job.upstream, { observer: new RecordingObserver(env, upstream, waitUntil) });
  let response: Response;
  try {
    response = await client.getBlob(job.upstreamRepository, job.digest, job.committed);
  } catch (error) {
    const oci = upstreamFailure(error, upstream);
    return { kind: "broken", error: oci, permanent: isPermanent(oci), beforeBody: true };
  }
  const header = response.headers.get("Content-Length");
  const size = header === null ? null : job.committed + Number(header);
  if (job.size !== null && size !== null && size !== job.size) {
    response.body?.cancel().catch(() => undefined);
    const error = new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream}: blob ${job.digest} is ${size} bytes now, it was ${job.size}`, { upstream }, 502);
    return { kind: "broken", error, permanent: true, beforeBody: false };
  }
  hooks.sized(size ?? job.size);
  const body = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  const writer = new SegmentWriter(env.BLOBS, digest, job, hooks, size);
  const reader = chunkReader(body);
  let yielded = Date.now();
  try {
    for (;;) {
      if (Date.now() >= deadline) {
        await reader.cancel().catch(() => undefined);
        await writer.settle();
        return { kind: "paused" };
      }
      const value = await reader.read();
      if (value === undefined) break;
      // Copied into the segment buffer before the next read reuses the chunk.
      await writer.write(value);
      // When the upstream is ahead of us every read may succeed at once, and then the object
      // would serve no other call (the followers' status calls) until the slice ends (issue #11
      // saw the same in a request): yield to the event loop now and then. Not once per chunk: a
      // turn of the loop cost milliseconds under load, most of a cold fill's time (bench/).
      if (Date.now() - yielded >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        yielded = Date.now();
      }
    }
    const stored = await writer.finish();
    if (job.committed > 0 && (await hashObject(env.BLOBS, stored.key, stored.size, digest)) !== digest.hex) {
      // Resumed: no one stream saw every byte, so the stored segments are read back (natively).
      await deleteObject(env.BLOBS, stored.key);
      const error = new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream}: blob ${job.digest} of ${job.upstreamRepository}: content does not match the digest`, { upstream }, 502);
      return { kind: "broken", error, permanent: true, beforeBody: false };
    }
    return { kind: "done", ...stored };
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    await writer.settle().catch(() => undefined);
    const oci = upstreamFailure(error, upstream);
    return { kind: "broken", error: oci, permanent: isPermanent(oci), beforeBody: false };
  }
}

/**
 * Segments of SEGMENT_BYTES, each put while the next one fills; two buffers take turns (see
 * UploadWriter for why).
 */
class SegmentWriter {
  private buffer: Uint8Array;
  private spare: Uint8Array | undefined;
  private filled = 0;
  private inFlight: Promise<void> | undefined;
  private committed: number;
  private readonly key: string;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly digest: ParsedDigest,
    job: FillJobState,
    private readonly hooks: SliceHooks,
    size: number | null,
  ) {
    this.committed = job.committed;
    this.key = fillKey(digest, job.id);
    // A blob smaller than a segment never needs a whole segment buffer.
    this.buffer = new Uint8Array(size !== null && size - job.committed < SEGMENT_BYTES ? size - job.committed : SEGMENT_BYTES);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.filled === this.buffer.byteLength) this.grow();
      const take = Math.min(this.buffer.byteLength - this.filled, chunk.byteLength - at);
      this.buffer.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === SEGMENT_BYTES) await this.flush();
    }
  }

  /** Waits for the segment in flight; a failed write throws. */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  async finish(): Promise<{ key: string; size: number }> {
    await this.settle();
    const size = this.committed + this.filled;
    if (this.committed === 0) {
      // The whole blob is in the buffer: one put, and R2 checks the digest itself.
      const key = contentKey(this.digest);
      try {
        await this.bucket.put(key, this.buffer.subarray(0, this.filled), { [this.digest.algorithm]: this.digest.hex });
      } catch (error) {
        if (isChecksumMismatch(error)) {
          throw new OciError("UPSTREAM_UNAVAILABLE", `blob ${this.digest.digest}: content does not match the digest`, undefined, 502);
        }
        throw error;
      }
      return { key, size };
    }
    if (this.filled > 0) await this.bucket.put(segmentKey(this.key, this.committed / SEGMENT_BYTES), this.buffer.subarray(0, this.filled));
    return { key: this.key, size };
  }

  /** A blob of unknown size outgrew its first guess (never beyond SEGMENT_BYTES). */
  private grow(): void {
    const grown = new Uint8Array(SEGMENT_BYTES);
    grown.set(this.buffer.subarray(0, this.filled));
    this.buffer = grown;
  }

  private async flush(): Promise<void> {
    await this.inFlight;
    const full = this.buffer;
    this.buffer = this.spare ?? new Uint8Array(SEGMENT_BYTES);
    this.spare = full;
    this.filled = 0;
    const index = this.committed / SEGMENT_BYTES;
    this.inFlight = this.bucket.put(segmentKey(this.key, index), full).then(() => {
      this.committed += SEGMENT_BYTES;
      this.hooks.committed(this.committed);
    });
  }
}

/**
 * The upstream's failure as a client should see it. The body guard raised an OciError, but
 * through the Response's FixedLengthStream it arrives as a plain Error with its text.
 */
export function upstreamFailure(error: unknown, upstream: string): OciError {
  if (error instanceof OciError) return error;
  const text = (error instanceof Error ? error.message : String(error)).replace(/^OciError: /, "");
  return new OciError("UPSTREAM_UNAVAILABLE", text.startsWith(`upstream ${upstream}`) ? text : `upstream ${upstream}: ${text}`, { upstream }, 502);
}

/** Failures another attempt cannot fix: the blob is not there, not ours to read, or not what its digest says. */
function isPermanent(error: OciError): boolean {
  if (error.code === "BLOB_UNKNOWN" || error.code === "DENIED" || error.code === "UNAUTHORIZED" || error.code === "NAME_UNKNOWN") return true;
  return /content has digest|does not match the digest|upstream sent blob|longer than its Content-Length/.test(error.message);
}
