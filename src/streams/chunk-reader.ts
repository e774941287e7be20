// Reading a body chunk by chunk in one loop, at the speed the runtime allows. A request body
// arrives in small pieces (4 KiB under wrangler dev), and each read() of a default reader costs
// a promise round trip in JavaScript: a 256 MiB upload read that way spends more time in reads
// than in storing the bytes. A byte stream (request and response bodies in workerd) is read with
// workerd's readAtLeast() instead, which gathers the small pieces natively into one larger chunk
// (bench/: 4 KiB reads ≈ 200 MB/s, 64 KiB reads ≈ 800 MB/s).

/** A body that is read by one consumer; every chunk is valid until the next read() (unless `keep`). */
export interface ChunkReader {
  /** The next chunk, or undefined at the end of the body. */
  read(): Promise<Uint8Array | undefined>;
  /** Gives up on the rest of the body. */
  cancel(): Promise<void>;
}

/** What a blob's bytes can come from: a stream, or a reader (a request body that keeps rules, http/request-body.ts). */
export type BlobBody = ReadableStream<Uint8Array> | ChunkReader;

/**
 * Bytes one read waits for (unless the body ends first), and the size of the buffer it reads
 * into. Larger reads cost less per byte, but a read cannot report the bytes it holds until it
 * has this many: the request body's idle rule counts a body that delivers fewer bytes than this
 * within its timeout as stalled.
 */
export const MIN_READ_BYTES = 64 * 1024;

export interface ChunkReaderOptions {
  /** Every chunk is read into a buffer of its own, so the caller may hold it past the next read. */
  keep?: boolean;
  /**
   * A read waits for this many bytes (default MIN_READ_BYTES); 1 returns whatever has arrived, up
   * to MIN_READ_BYTES at once — for a reader that must see every byte as soon as it comes.
   */
  minBytes?: number;
}

/** A reader for `body`: a reader passes through; a byte stream is read in gathered chunks. */
export function chunkReader(body: BlobBody, options: ChunkReaderOptions = {}): ChunkReader {
  if (!(body instanceof ReadableStream)) return body;
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // not a byte stream (one built in JavaScript): chunks as they come
  }
  return byob && typeof byob.readAtLeast === "function" ? gathering(byob, options) : plain(body.getReader());
}

function gathering(reader: ReadableStreamBYOBReader, { keep = false, minBytes = MIN_READ_BYTES }: ChunkReaderOptions): ChunkReader {
  // A read transfers the buffer to the stream and hands it back in the result: one buffer for all reads.
  let buffer: ArrayBuffer | undefined;
  return {
    async read() {
      const { done, value } = await reader.readAtLeast(minBytes, new Uint8Array(buffer ?? new ArrayBuffer(MIN_READ_BYTES)));
      if (!keep) buffer = value?.buffer as ArrayBuffer | undefined;
      return done ? undefined : value;
    },
    cancel: () => reader.cancel(),
  };
}

function plain(reader: ReadableStreamDefaultReader<Uint8Array>): ChunkReader {
  return {
    async read() {
      const { done, value } = await reader.read();
      return done ? undefined : value;
    },
    cancel: () => reader.cancel(),
  };
}
