// Reads a stored blob (or a range of it) for a response. A large object is read in pieces —
// ranged R2 reads stitched into one stream, the next piece requested while the current one
// streams — so reading it never holds more than about two pieces: local R2 reads ahead
// without limit on an object assembled from multipart parts (a 1 GiB GET grew workerd by
// about 1 GiB), and a client slower than R2 would otherwise decide how much sits in memory.
// A segmented blob (segmented-object.ts) is read segment by segment the same way.

import { OciError } from "../http/errors";
import { subtleName, toHex, type ParsedDigest } from "../oci/digest";
import type { ByteRange } from "./repository";
import { isSegmented, segmentPieces, type ObjectPiece } from "./segmented-object";

/** Objects (or ranges) larger than this are read in slices of this size. */
export const READ_SLICE_BYTES = 16 * 1024 * 1024;

/** The bytes of `range` (default: all `size` bytes) of the object at `key`; null when it is missing. */
export async function readObject(bucket: R2Bucket, key: string, size: number, range: ByteRange | undefined): Promise<ReadableStream<Uint8Array> | null> {
  const { start, length } = span(size, range);
  if (!isSegmented(key) && length <= READ_SLICE_BYTES) {
    const object = await bucket.get(key, range ? { range: { offset: start, length } } : undefined);
    return object?.body ?? null;
  }
  const opened = await openPieces(bucket, key, start, length);
  if (!opened) return null;
  if (opened.pieces.length === 1) return opened.first.body;
  const { readable, writable } = new FixedLengthStream(length);
  pumpPieces(opened, writable)
    .then(() => writable.close())
    .catch((error: unknown) => writable.abort(error).catch(() => undefined));
  return readable;
}

/**
 * Pipes the bytes of `range` of the object at `key` into `into`, piece by piece, and leaves it
 * open; false when the object is missing (nothing written). For a writer that already has a
 * stream of its own: workerd cannot pipe readObject's stream into another TransformStream.
 */
export async function pipeObject(bucket: R2Bucket, key: string, size: number, range: ByteRange | undefined, into: WritableStream<Uint8Array>): Promise<boolean> {
  const { start, length } = span(size, range);
  // An empty blob has no piece to read (a segmented one is never empty).
  if (length === 0) return (await bucket.head(key)) !== null;
  const opened = await openPieces(bucket, key, start, length);
  if (!opened) return false;
  await pumpPieces(opened, into);
  return true;
}

/** Where `range` (default: all `size` bytes) starts and how long it is. */
function span(size: number, range: ByteRange | undefined): { start: number; length: number } {
  return range ? { start: range.start, length: range.end - range.start + 1 } : { start: 0, length: size };
}

interface OpenedPieces {
  pieces: ObjectPiece[];
  first: R2ObjectBody;
  read(piece: ObjectPiece): Promise<R2ObjectBody | null>;
}

/** The pieces to read (segments, or slices of one object) with the first one requested; null when it is missing. */
async function openPieces(bucket: R2Bucket, key: string, start: number, length: number): Promise<OpenedPieces | null> {
  const pieces = isSegmented(key) ? segmentPieces(key, start, length) : slices(key, start, length);
  const read = (piece: ObjectPiece) => bucket.get(piece.key, { range: { offset: piece.offset, length: piece.length } });
  const first = await read(pieces[0]!);
  return first ? { pieces, first, read } : null;
}

/** Pipes every piece natively into `into` (left open), the next one requested while the current one streams. */
async function pumpPieces({ pieces, first, read }: OpenedPieces, into: WritableStream<Uint8Array>): Promise<void> {
  let current: R2ObjectBody | null = first;
  for (let i = 0; i < pieces.length; i++) {
    if (!current) throw new OciError("BLOB_UNKNOWN", `blob object ${pieces[i]!.key} vanished while it was read`);
    const next = i + 1 < pieces.length ? read(pieces[i + 1]!) : Promise.resolve(null);
    // Awaited below unless this pipe fails first; then nobody will.
    next.catch(() => undefined);
    await current.body.pipeTo(into, { preventClose: true });
    current = await next;
  }
}

/** The hex digest of the stored object's bytes, hashed natively as they are read. */
export async function hashObject(bucket: R2Bucket, key: string, size: number, digest: ParsedDigest): Promise<string> {
  const hasher = new crypto.DigestStream(subtleName(digest.algorithm));
  // Every piece straight into the hasher (no stream of readObject's in between).
  if (!(await pipeObject(bucket, key, size, undefined, hasher))) throw new Error(`stored object ${key} vanished`);
  await hasher.close();
  return toHex(await hasher.digest);
}

/** READ_SLICE_BYTES reads of one object. */
function slices(key: string, start: number, length: number): ObjectPiece[] {
  const pieces: ObjectPiece[] = [];
  for (let offset = start; offset < start + length; offset += READ_SLICE_BYTES) {
    pieces.push({ key, offset, length: Math.min(READ_SLICE_BYTES, start + length - offset) });
  }
  return pieces;
}
