// A client's view of a cache fill that runs in the blob's BlobIndexDO: the bytes of `start`..`end`
// as they arrive. Whole segments are read as soon as they are committed (the client never waits
// for the whole blob), the rest from the stored blob once the fill is done — usually the same
// segments; a failed fill errors the stream. Any number of clients follow one fill.

import { OciError } from "../http/errors";
import type { ParsedDigest } from "../oci/digest";
import { withKnownLength } from "../upstream/body";
import { chunkReader } from "../streams/chunk-reader";
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
  const chunks = followedBytes(fill, start, end);
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
  return withKnownLength(stream, end - start + 1);
}

async function* followedBytes(fill: FollowedFill, start: number, end: number): AsyncGenerator<Uint8Array, void, undefined> {
  let progress = fill.progress;
  let position = start;
  while (position <= end) {
    if (progress.state === "failed") throw fillError(progress.error, fill.digest.digest);
    if (progress.state === "done" || progress.state === "gone") {
      const key = progress.key ?? (await fill.locate())?.key;
      const body = key ? await readObject(fill.bucket, key, fill.size, { start: position, end }) : null;
      if (!body) throw new OciError("BLOB_UNKNOWN", `blob ${fill.digest.digest} is missing from storage`);
      yield* chunksOf(body);
      return;
    }
    if (progress.committed > position) {
      const stored = { start: position, end: Math.min(progress.committed - 1, end) };
      const segments = await readObject(fill.bucket, fillKey(fill.digest, progress.fillId), fill.size, stored);
      if (!segments) {
        // A fill whose blob was already stored elsewhere removes its segments a while after it ended.
        progress = await fill.poll();
        if (progress.state === "running") throw new OciError("UPSTREAM_UNAVAILABLE", `cache fill of ${fill.digest.digest} lost the segment at byte ${position}`, undefined, 502);
        continue;
      }
      for await (const chunk of chunksOf(segments)) {
        position += chunk.byteLength;
        yield chunk;
      }
      continue;
    }
    progress = await fill.poll({ committed: progress.committed, size: progress.size });
  }
}

async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = chunkReader(body);
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk === undefined) return;
      // The reader reuses its buffer on the next read; the client's stream may hold this chunk longer.
      yield chunk.slice();
    }
  } finally {
    // An early return (the client hung up) leaves the rest unread: let R2 stop sending it.
    await reader.cancel().catch(() => undefined);
  }
}
