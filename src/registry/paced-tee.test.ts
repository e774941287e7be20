import { describe, expect, it } from "vitest";
import { pacedTee } from "./paced-tee";

function source(chunks: number, size = 1024): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let n = 0;
  return {
    stream: new ReadableStream<Uint8Array>({
      pull(controller) {
        if (n === chunks) return controller.close();
        controller.enqueue(new Uint8Array(size).fill(n++ & 0xff));
      },
    }, { highWaterMark: 0 }),
    pulled: () => n,
  };
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return total;
    total += value.length;
  }
}

describe("pacedTee", () => {
  it("delivers every byte to both branches", async () => {
    const { stream } = source(100);
    const [a, b] = pacedTee(stream);
    expect(await Promise.all([drain(a), drain(b)])).toEqual([102400, 102400]);
  });

  it("does not read ahead of the slower branch", async () => {
    const { stream, pulled } = source(1000);
    const [fast, slow] = pacedTee(stream);
    const slowReader = slow.getReader();
    const fastDone = drain(fast);
    await new Promise((r) => setTimeout(r, 50));
    // The slow branch has read nothing: the source may only be a few chunks ahead.
    expect(pulled()).toBeLessThan(10);
    await slowReader.cancel();
    expect(await fastDone).toBe(1024 * 1000);
  });

  it("keeps feeding one branch when the other is cancelled", async () => {
    const { stream } = source(50);
    const [client, store] = pacedTee(stream);
    await client.cancel();
    expect(await drain(store)).toBe(50 * 1024);
  });

  it("propagates a source error to both branches", async () => {
    let n = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (n++ === 3) return controller.error(new Error("truncated"));
        controller.enqueue(new Uint8Array(10));
      },
    });
    const [a, b] = pacedTee(failing);
    const [ra, rb] = await Promise.allSettled([drain(a), drain(b)]);
    expect(ra.status === "rejected" && String(ra.reason)).toContain("truncated");
    expect(rb.status === "rejected" && String(rb.reason)).toContain("truncated");
  });
});
