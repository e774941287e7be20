import { describe, expect, it } from "vitest";
import { chunkReader, MIN_READ_BYTES } from "../streams/chunk-reader";
import { OciError } from "./errors";
import { GuardedBody, type BodyRules } from "./request-body";

const rules = (maxBytes: number, idleMs = 5000): BodyRules => ({
  maxBytes,
  idleMs,
  tooLarge: () => new OciError("SIZE_INVALID", `above ${maxBytes}`, { limit: maxBytes }, 413),
  code: "BLOB_UPLOAD_INVALID",
});

/** `sizes` chunks as a byte stream (as workerd delivers request bodies) or a plain JavaScript stream; `then` after the last. */
function body(kind: "bytes" | "plain", sizes: number[], then: "close" | "stall" | "break" = "close"): ReadableStream<Uint8Array> {
  let next = 0;
  const source = {
    pull(controller: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController) {
      if (next < sizes.length) return controller.enqueue(new Uint8Array(sizes[next++]!).fill(next));
      if (then === "close") return controller.close();
      if (then === "break") return controller.error(new Error("connection reset"));
      return new Promise<void>(() => {}); // nothing more, ever
    },
  };
  return kind === "bytes" ? new ReadableStream({ type: "bytes", ...source }) : new ReadableStream<Uint8Array>(source);
}

async function readAllOf(reader: { read(): Promise<Uint8Array | undefined> }): Promise<{ bytes: number; reads: number }> {
  let bytes = 0;
  let reads = 0;
  for (let chunk = await reader.read(); chunk !== undefined; chunk = await reader.read()) {
    bytes += chunk.byteLength;
    reads++;
  }
  return { bytes, reads };
}

async function failureOf(promise: Promise<unknown>): Promise<OciError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OciError);
  return error as OciError;
}

describe("chunkReader", () => {
  it("gathers a byte stream's small pieces into reads of at least MIN_READ_BYTES", async () => {
    const { bytes, reads } = await readAllOf(chunkReader(body("bytes", Array(64).fill(4096))));
    expect(bytes).toBe(64 * 4096);
    expect(reads).toBeLessThanOrEqual(Math.ceil((64 * 4096) / MIN_READ_BYTES));
  });

  it.each(["bytes", "plain"] as const)("returns every byte of a %s stream, the last read short", async (kind) => {
    const sizes = [1, MIN_READ_BYTES + 7, 3, 100_000, 5];
    expect((await readAllOf(chunkReader(body(kind, sizes)))).bytes).toBe(sizes.reduce((a, b) => a + b));
  });
});

describe("GuardedBody", () => {
  it.each(["bytes", "plain"] as const)("passes a %s body within the limit through whole", async (kind) => {
    const guarded = new GuardedBody(body(kind, [1000, 2000, 3000]), rules(6000));
    expect((await readAllOf(guarded)).bytes).toBe(6000);
    expect(guarded.failure).toBeUndefined();
  });

  it.each(["bytes", "plain"] as const)("fails a %s body one byte above the limit with the rule's 413", async (kind) => {
    const guarded = new GuardedBody(body(kind, [1000, 2000, 3001]), rules(6000));
    const error = await failureOf(readAllOf(guarded));
    expect(error.status).toBe(413);
    expect(error.message).toBe("above 6000");
    expect(guarded.failure).toBe(error);
    await expect(guarded.read()).rejects.toBe(error); // and every read after
  });

  it.each([
    ["bytes", [10]],
    ["plain", [10]],
    // a byte stream's read waits for MIN_READ_BYTES: a body trickling less than that in the timeout is stalled
    ["bytes", [MIN_READ_BYTES - 1]],
  ] as const)("fails a %s body that stops after %j bytes with 408 after the idle time", async (kind, sizes) => {
    const guarded = new GuardedBody(body(kind, [...sizes], "stall"), rules(1e9, 200));
    const started = Date.now();
    const error = await failureOf(readAllOf(guarded));
    expect(error.status).toBe(408);
    expect(error.code).toBe("BLOB_UPLOAD_INVALID");
    expect(error.message).toMatch(/no bytes of the request body arrived for 0 s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it.each(["bytes", "plain"] as const)("fails a %s body that breaks off with 400", async (kind) => {
    const guarded = new GuardedBody(body(kind, [100], "break"), rules(1e9));
    const error = await failureOf(readAllOf(guarded));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/broke off after \d+ bytes \(.*connection reset/);
  });

  it("does not count a busy consumer as an idle body", async () => {
    const guarded = new GuardedBody(body("plain", [10, 10]), rules(1e9, 100));
    expect(await guarded.read()).toHaveLength(10);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the consumer is slow, not the client
    expect((await readAllOf(guarded)).bytes).toBe(10);
  });
});
