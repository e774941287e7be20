// A blob stored in segments: consecutive single-put R2 objects `<key>0`, `<key>1`, … of
// SEGMENT_BYTES each (the last one may be shorter), registered under their common prefix
// `<key>`, which ends with "/". A cache fill writes them (fill-slice.ts): clients read each
// segment as soon as it is stored, and once the fill is done the same objects are the blob.
// So every byte is written to R2 once, and no multipart object is assembled — R2 cannot read
// an unfinished multipart upload, and local R2 reads an assembled object through a JavaScript
// stream at a tenth of a single-put object's speed. Every reader, deleter and checker of a
// blob's key goes through this module or object-reader.ts, so both layouts work everywhere.

import { deletePrefix } from "./blob-keys";

/** The size of every segment but the last. Stored blobs are read with it: never change it. */
export const SEGMENT_BYTES = 8 * 1024 * 1024;

export function isSegmented(key: string): boolean {
  return key.endsWith("/");
}

export function segmentKey(key: string, index: number): string {
  return `${key}${index}`;
}

/** One read of a stored object: `length` bytes of the R2 object `key` from `offset`. */
export interface ObjectPiece {
  key: string;
  offset: number;
  length: number;
}

/** The segment reads that make up bytes `start`..`start + length - 1` of the segmented blob at `key`. */
export function segmentPieces(key: string, start: number, length: number): ObjectPiece[] {
  const pieces: ObjectPiece[] = [];
  for (let position = start; position < start + length; ) {
    const index = Math.floor(position / SEGMENT_BYTES);
    const offset = position - index * SEGMENT_BYTES;
    const take = Math.min(SEGMENT_BYTES - offset, start + length - position);
    pieces.push({ key: segmentKey(key, index), offset, length: take });
    position += take;
  }
  return pieces;
}

/**
 * The stored object's size, or null when it is missing. A segmented blob counts as present only
 * when its segments are numbered without gaps and all but the last are whole.
 */
export async function statObject(bucket: R2Bucket, key: string): Promise<{ size: number } | null> {
  if (!isSegmented(key)) {
    const head = await bucket.head(key);
    return head ? { size: head.size } : null;
  }
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: key, cursor });
    for (const object of page.objects) {
      const index = object.key.slice(key.length);
      if (/^(0|[1-9][0-9]*)$/.test(index)) sizes[Number(index)] = object.size;
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  if (sizes.length === 0) return null;
  for (let index = 0; index < sizes.length; index++) {
    const size = sizes[index];
    if (size === undefined || (index < sizes.length - 1 && size !== SEGMENT_BYTES)) return null;
  }
  return { size: sizes.reduce((sum, size) => sum + size, 0) };
}

/** Deletes the stored object: the R2 object, or every segment of a segmented blob. */
export async function deleteObject(bucket: R2Bucket, key: string): Promise<void> {
  if (isSegmented(key)) await deletePrefix(bucket, key);
  else await bucket.delete(key);
}
