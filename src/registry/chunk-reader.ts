// Reads a native byte stream (a Response or R2 body) in chunks of 32–64 KiB. A default reader
// gets 4 KiB per read from workerd, and a cache fill pays per chunk: a copy into its part
// buffer and a yield to the event loop (fill-slice.ts); followers pay a generator step.

const MIN_CHUNK_BYTES = 32 * 1024;
const MAX_CHUNK_BYTES = 64 * 1024;

export interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

/** Chunks of MIN..MAX bytes (fewer at the end); a stream that is not a byte stream is read as it comes. */
export function chunkReader(body: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    const reader = body.getReader();
    return { read: () => reader.read(), cancel: (reason) => reader.cancel(reason) };
  }
  return {
    read: () => byob.readAtLeast(MIN_CHUNK_BYTES, new Uint8Array(MAX_CHUNK_BYTES)),
    cancel: (reason) => byob.cancel(reason),
  };
}
