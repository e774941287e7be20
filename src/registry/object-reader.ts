// Reads a stored blob (or a range of it) for a response. A large object is read in slices —
// ranged R2 reads stitched into one stream, the next slice requested while the current one
// streams — so reading it never holds more than about two slices: local R2 reads ahead
// without limit on an object assembled from multipart parts (a 1 GiB GET grew workerd by
// about 1 GiB), and a client slower than R2 would otherwise decide how much sits in memory.

import { OciError } from "../http/errors";
import type { ByteRange } from "./repository";

/** Objects (or ranges) larger than this are read in slices of this size. */
export const READ_SLICE_BYTES = 16 * 1024 * 1024;

/** The bytes of `range` (default: all `size` bytes) of the object at `key`; null when it is missing. */
export async function readObject(bucket: R2Bucket, key: string, size: number, range: ByteRange | undefined): Promise<ReadableStream<Uint8Array> | null> {
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  if (length <= READ_SLICE_BYTES) {
    const object = await bucket.get(key, range ? { range: { offset: start, length } } : undefined);
    return object?.body ?? null;
  }
  const slice = (offset: number) => bucket.get(key, { range: { offset, length: Math.min(READ_SLICE_BYTES, start + length - offset) } });
  const first = await slice(start);
  if (!first) return null;
  const { readable, writable } = new FixedLengthStream(length);
  const pump = async (): Promise<void> => {
    let current: R2ObjectBody | null = first;
    for (let offset = start; offset < start + length; offset += READ_SLICE_BYTES) {
      if (!current) throw new OciError("BLOB_UNKNOWN", `blob object ${key} vanished while it was read`);
      const nextOffset = offset + READ_SLICE_BYTES;
      const next = nextOffset < start + length ? slice(nextOffset) : Promise.resolve(null);
      await current.body.pipeTo(writable, { preventClose: true });
      current = await next;
    }
    await writable.close();
  };
  pump().catch((error: unknown) => writable.abort(error).catch(() => undefined));
  return readable;
}
