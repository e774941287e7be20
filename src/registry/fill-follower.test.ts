import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseDigest } from "../oci/digest";
import { followFill, type FollowedFill } from "./fill-follower";
import type { FillProgress } from "./fill-jobs";
import { fillKey } from "./fill-slice";
import { SEGMENT_BYTES, segmentKey } from "./segmented-object";

const digest = parseDigest(`sha256:${"ab".repeat(32)}`);
const size = 3 * SEGMENT_BYTES + 10;

/** A fill whose status calls answer `answers` in turn (each after `delayMs`), then the last one forever. */
function scriptedFill(fillId: string, answers: FillProgress[], delayMs: number, patienceMs: number): FollowedFill {
  let next = 0;
  return {
    bucket: env.BLOBS,
    digest,
    size,
    progress: answers[0]!,
    patienceMs,
    async poll() {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      next = Math.min(next + 1, answers.length - 1);
      return answers[next]!;
    },
    locate: async () => null,
  };
}

/** `size` bytes (byte i = i mod 253) stored as the segments of `key`. */
async function storeSegments(key: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(size).map((_, i) => i % 253);
  for (let index = 0; index * SEGMENT_BYTES < size; index++) await env.BLOBS.put(segmentKey(key, index), bytes.subarray(index * SEGMENT_BYTES, (index + 1) * SEGMENT_BYTES));
  return bytes;
}

async function expectBody(stream: ReadableStream<Uint8Array>, bytes: Uint8Array): Promise<void> {
  const body = new Uint8Array(await new Response(stream).arrayBuffer());
  expect(body.byteLength).toBe(bytes.byteLength);
  // toEqual on megabytes would print them whole
  expect(body.findIndex((value, i) => value !== bytes[i])).toBe(-1);
}

const running = (fillId: string, committed: number): FillProgress => ({ fillId, state: "running", repository: "r", size, committed });

describe("following a fill", () => {
  it("errors the body when the fill stops moving for longer than the patience", async () => {
    const fill = scriptedFill("stalled", [running("stalled", 0)], 20, 300);
    const started = Date.now();
    await expect(new Response(followFill(fill, 0, size - 1)).arrayBuffer()).rejects.toThrow(/made no progress/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("keeps following a fill that moves, however long it takes in all", async () => {
    const fillId = "moving";
    const key = fillKey(digest, fillId);
    const bytes = await storeSegments(key);
    // Each step comes within the patience (600 of 1000 ms); the follower checks it three times
    // (before each wait), the last after more than the patience in all.
    const answers: FillProgress[] = [0, 1, 2].map((index) => running(fillId, index * SEGMENT_BYTES));
    answers.push({ ...running(fillId, size), state: "done", key });
    await expectBody(followFill(scriptedFill(fillId, answers, 600, 1000), 0, size - 1), bytes);
  });

  it("reads every segment stored since it last looked, however many (a client slower than the fill)", async () => {
    const fillId = "lagging";
    const key = fillKey(digest, fillId);
    const bytes = await storeSegments(key);
    const answers: FillProgress[] = [running(fillId, 0), running(fillId, 3 * SEGMENT_BYTES), { ...running(fillId, size), state: "done", key }];
    await expectBody(followFill(scriptedFill(fillId, answers, 10, 60_000), 0, size - 1), bytes);
    // a range that starts inside a segment and ends inside a later one
    await expectBody(followFill(scriptedFill(fillId, answers, 10, 60_000), 100, 2 * SEGMENT_BYTES + 5), bytes.subarray(100, 2 * SEGMENT_BYTES + 6));
  });
});
