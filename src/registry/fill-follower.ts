// A client's view of a cache fill that runs in the blob's BlobIndexDO: the bytes of `start`..`end`
// as they arrive. Whole segments are read as soon as they are committed (the client never waits
// for the whole blob), the rest from the stored blob once the fill is done — usually the same
// segments; a failed fill errors the stream, and so does one that stops moving for
// FOLLOWER_PATIENCE_MS (every request does bounded work). Any number of clients follow one fill.
// Stored bytes are piped from R2 into the response natively: no JavaScript touches them on the way.

import { OciError } from "../http/errors";
import type { ParsedDigest } from "../oci/digest";
import { fillError, type FillProgress, type FillSeen } from "./fill-jobs";
import { fillKey } from "./fill-slice";
import { pipeObject } from "./object-reader";

/** How long a client waits for a fill that moves no further (a new segment, its size, its end). */
export const FOLLOWER_PATIENCE_MS = 10 * 60 * 1000;

export interface FollowedFill {
  bucket: R2Bucket;
  digest: ParsedDigest;
  size: number;
  /** The fill's progress as last seen. */
  progress: FillProgress;
  /** Asks the blob index again; with `seen`, the answer waits until the fill moved past it (or a second passed). */
  poll(seen?: FillSeen): Promise<FillProgress>;
  /** Where the stored blob is once the fill's record is gone. */
  locate(): Promise<{ key: string; size: number } | null>;
  /** FOLLOWER_PATIENCE_MS unless given (tests). */
  patienceMs?: number;
}

/** Bytes `start`..`end` (inclusive) of the filled blob, with a known length. */
export function followFill(fill: FollowedFill, start: number, end: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(end - start + 1);
  pipeFollowed(fill, start, end, writable).catch((error: unknown) => writable.abort(error).catch(() => undefined));
  return readable;
}

async function pipeFollowed(fill: FollowedFill, start: number, end: number, into: WritableStream<Uint8Array>): Promise<void> {
  let progress = fill.progress;
  let position = start;
  let movedAt = Date.now();
  while (position <= end) {
    if (progress.state === "failed") throw fillError(progress.error, fill.digest.digest);
    if (progress.state === "done" || progress.state === "gone") {
      const key = progress.key ?? (await fill.locate())?.key;
      if (!key || !(await pipeObject(fill.bucket, key, fill.size, { start: position, end }, into))) {
        throw new OciError("BLOB_UNKNOWN", `blob ${fill.digest.digest} is missing from storage`);
      }
      break;
    }
    if (progress.committed > position) {
      // Every stored segment since the last look, however many the fill stored meanwhile.
      const stop = Math.min(progress.committed - 1, end);
      // A client that hangs up ends the pipe with an error, and so this loop.
      if (await pipeObject(fill.bucket, fillKey(fill.digest, progress.fillId), fill.size, { start: position, end: stop }, into)) {
        position = stop + 1;
        continue;
      }
      // A fill whose blob was already stored elsewhere removes its segments a while after it ended.
      progress = await fill.poll();
      if (progress.state === "running") throw new OciError("UPSTREAM_UNAVAILABLE", `cache fill of ${fill.digest.digest} lost the segment at byte ${position}`, undefined, 502);
      continue;
    }
    if (Date.now() - movedAt > (fill.patienceMs ?? FOLLOWER_PATIENCE_MS)) {
      throw new OciError("UPSTREAM_UNAVAILABLE", `cache fill of ${fill.digest.digest} made no progress for ${Math.round((Date.now() - movedAt) / 1000)} s`, undefined, 504);
    }
    const seen = progress;
    progress = await fill.poll({ committed: seen.committed, size: seen.size });
    if (progress.committed !== seen.committed || progress.size !== seen.size || progress.state !== seen.state) movedAt = Date.now();
  }
  await into.close();
}
