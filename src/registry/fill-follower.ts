// A client's view of a cache fill that runs in the blob's BlobIndexDO: the bytes of `start`..`end`
// as they arrive. Whole segments are read as soon as they are committed (the client never waits
// for the whole blob), the rest from the stored blob once the fill is done — usually the same
// segments; a failed fill errors the stream. Any number of clients follow one fill. Stored bytes
// are piped from R2 into the response natively: no JavaScript touches them on the way.

import { OciError } from "../http/errors";
import type { ParsedDigest } from "../oci/digest";
import { fillError, type FillProgress, type FillSeen } from "./fill-jobs";
import { fillKey } from "./fill-slice";
import { readObject } from "./object-reader";

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
  while (position <= end) {
    if (progress.state === "failed") throw fillError(progress.error, fill.digest.digest);
    if (progress.state === "done" || progress.state === "gone") {
      const key = progress.key ?? (await fill.locate())?.key;
      const body = key ? await readObject(fill.bucket, key, fill.size, { start: position, end }) : null;
      if (!body) throw new OciError("BLOB_UNKNOWN", `blob ${fill.digest.digest} is missing from storage`);
      await body.pipeTo(into);
      return;
    }
    if (progress.committed > position) {
      const stop = Math.min(progress.committed - 1, end);
      const segments = await readObject(fill.bucket, fillKey(fill.digest, progress.fillId), fill.size, { start: position, end: stop });
      if (!segments) {
        // A fill whose blob was already stored elsewhere removes its segments a while after it ended.
        progress = await fill.poll();
        if (progress.state === "running") throw new OciError("UPSTREAM_UNAVAILABLE", `cache fill of ${fill.digest.digest} lost the segment at byte ${position}`, undefined, 502);
        continue;
      }
      // A client that hangs up ends the pipe with an error, and so this loop.
      await segments.pipeTo(into, { preventClose: true });
      position = stop + 1;
      continue;
    }
    progress = await fill.poll({ committed: progress.committed, size: progress.size });
  }
  await into.close();
}
