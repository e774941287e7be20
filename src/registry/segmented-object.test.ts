import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { readObject } from "./object-reader";
import { deleteObject, SEGMENT_BYTES, segmentKey, segmentPieces, statObject } from "./segmented-object";

const KEY = "fills/segmented-test/";

/** Stores `size` bytes (byte i = i mod 251) as segments under `key`; returns the bytes. */
async function storeSegments(key: string, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  for (let index = 0; index * SEGMENT_BYTES < size; index++) {
    await env.BLOBS.put(segmentKey(key, index), bytes.subarray(index * SEGMENT_BYTES, Math.min(size, (index + 1) * SEGMENT_BYTES)));
  }
  return bytes;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Where two byte arrays first differ (-1: equal); toEqual on megabytes would print them whole. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe("segmented objects", () => {
  it("cuts a byte range into per-segment reads", () => {
    expect(segmentPieces(KEY, 0, 10)).toEqual([{ key: `${KEY}0`, offset: 0, length: 10 }]);
    expect(segmentPieces(KEY, SEGMENT_BYTES - 2, 5)).toEqual([
      { key: `${KEY}0`, offset: SEGMENT_BYTES - 2, length: 2 },
      { key: `${KEY}1`, offset: 0, length: 3 },
    ]);
    expect(segmentPieces(KEY, SEGMENT_BYTES, 2 * SEGMENT_BYTES).map((p) => p.key)).toEqual([`${KEY}1`, `${KEY}2`]);
  });

  it("reads whole, across segment boundaries and within one segment; stats and deletes every segment", async () => {
    const key = `${KEY}read/`;
    const size = 2 * SEGMENT_BYTES + 1234;
    const bytes = await storeSegments(key, size);
    expect(await statObject(env.BLOBS, key)).toEqual({ size });
    expect(firstDifference(await readAll((await readObject(env.BLOBS, key, size, undefined))!), bytes)).toBe(-1);
    const across = { start: SEGMENT_BYTES - 7, end: 2 * SEGMENT_BYTES + 9 };
    expect(firstDifference(await readAll((await readObject(env.BLOBS, key, size, across))!), bytes.subarray(across.start, across.end + 1))).toBe(-1);
    const within = { start: SEGMENT_BYTES + 5, end: SEGMENT_BYTES + 99 };
    expect(firstDifference(await readAll((await readObject(env.BLOBS, key, size, within))!), bytes.subarray(within.start, within.end + 1))).toBe(-1);

    await deleteObject(env.BLOBS, key);
    expect((await env.BLOBS.list({ prefix: key })).objects).toEqual([]);
    expect(await statObject(env.BLOBS, key)).toBeNull();
    expect(await readObject(env.BLOBS, key, size, undefined)).toBeNull();
  });

  it("is missing when a segment is missing or a segment before the last is short", async () => {
    const gap = `${KEY}gap/`;
    await storeSegments(gap, 3 * SEGMENT_BYTES);
    await env.BLOBS.delete(segmentKey(gap, 1));
    expect(await statObject(env.BLOBS, gap)).toBeNull();

    const short = `${KEY}short/`;
    await env.BLOBS.put(segmentKey(short, 0), new Uint8Array(10));
    await env.BLOBS.put(segmentKey(short, 1), new Uint8Array(10));
    expect(await statObject(env.BLOBS, short)).toBeNull();
    await env.BLOBS.delete([segmentKey(short, 0), segmentKey(short, 1)]);
    await deleteObject(env.BLOBS, gap);
  });

  it("a segment vanishing during a read errors the stream instead of ending it short", async () => {
    const key = `${KEY}vanish/`;
    const size = 3 * SEGMENT_BYTES;
    await storeSegments(key, size);
    const body = (await readObject(env.BLOBS, key, size, undefined))!;
    await env.BLOBS.delete(segmentKey(key, 2));
    await expect(readAll(body)).rejects.toThrow();
    await deleteObject(env.BLOBS, key);
  });
});
