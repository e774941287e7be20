// Request bodies the way the platform delivers them. Cloudflare's edge answers 413 to a body
// above the plan's limit (MAX_CHUNK_BYTES) whether it is declared or streamed; local wrangler
// dev would take any size, so Berth enforces the same limit itself. A body that stops arriving
// fails after the idle timeout instead of holding an upload until the client goes away, and a
// client that hangs up is an expected ending, not an internal error.

import type { Config } from "../config";
import { chunkReader, MIN_READ_BYTES, type BlobBody, type ChunkReader } from "../streams/chunk-reader";
import { OciError, type OciErrorCode } from "./errors";

export interface BodyRules {
  /** Most bytes the body may carry. */
  maxBytes: number;
  /** The body fails when no byte arrived for this long. */
  idleMs: number;
  /** The error for a body above `maxBytes` (declared or counted). */
  tooLarge: () => OciError;
  /** Error code for a body that stalls or breaks off. */
  code: OciErrorCode;
}

/** The rules for blob bytes (uploads): the platform's per-request limit. */
export function blobBodyRules(config: Config): BodyRules {
  return { maxBytes: config.maxChunkBytes, idleMs: config.bodyIdleTimeoutSeconds * 1000, tooLarge: () => chunkTooLarge(config.maxChunkBytes), code: "BLOB_UPLOAD_INVALID" };
}

/** A 413 for a blob body above the per-request limit, saying what to do instead. */
export function chunkTooLarge(limit: number): OciError {
  return new OciError(
    "SIZE_INVALID",
    `request body exceeds ${limit} bytes, the most this registry accepts in one request (MAX_CHUNK_BYTES, the platform's body limit); ` +
      `send blobs in chunks of at most OCI-Chunk-Max-Length (${limit}) bytes, e.g. with \`npx berth push <source> <destination>\``,
    { limit },
    413,
  );
}

/** Refuses a declared Content-Length above `maxBytes` before a byte is read. */
export function refuseDeclaredLength(request: Request, maxBytes: number, tooLarge: () => OciError): void {
  const header = request.headers.get("Content-Length");
  if (header !== null && /^\s*\d+\s*$/.test(header) && Number(header) > maxBytes) throw tooLarge();
}

/**
 * The request body as a reader that keeps the rules: a read fails with the rule's OciError as
 * soon as the limit is crossed, the body idles, or the connection breaks. It is the consumer's
 * own read loop that checks (no second stream in the path: bench/ measured one costing a third
 * of a push's speed). Storage code reading it may wrap that error in its own; `failure` keeps
 * the original so the handler can answer with it.
 */
export class GuardedBody implements ChunkReader {
  failure: OciError | undefined;
  private received = 0;
  /** The source ended or broke: nothing is left to read. */
  private finished = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  /** When the pending read began; undefined while the consumer is busy (backpressure is not idling). */
  private waitingSince: number | undefined;
  private readonly source: ChunkReader;

  constructor(
    source: ReadableStream<Uint8Array>,
    private readonly rules: BodyRules,
  ) {
    this.source = chunkReader(source);
    this.watchdog = setTimeout(this.watch, rules.idleMs);
  }

  async read(): Promise<Uint8Array | undefined> {
    if (this.failure) throw this.failure;
    let chunk: Uint8Array | undefined;
    this.waitingSince = Date.now();
    try {
      chunk = await this.source.read();
    } catch (error) {
      this.finished = true;
      throw this.fail(new OciError(this.rules.code, `the request body broke off after ${this.received} bytes (${error instanceof Error ? error.message : String(error)}); nothing of this request was kept`, { received: this.received }, 400));
    } finally {
      this.waitingSince = undefined;
    }
    if (this.failure) throw this.failure; // the watchdog ended the read
    if (chunk === undefined) {
      this.finished = true;
      this.stop();
      return undefined;
    }
    this.received += chunk.byteLength;
    if (this.received > this.rules.maxBytes) throw this.fail(this.rules.tooLarge());
    return chunk;
  }

  /** The consumer gave up on the body; release() reads on what the client still sends. */
  async cancel(): Promise<void> {
    this.stop();
  }

  /** Once the answer is decided: whatever the client still sends is read and thrown away first (see drainBody). */
  async release(waitUntil: WaitUntil | undefined): Promise<void> {
    this.stop();
    if (!this.finished) await drainBody(this.source, waitUntil);
  }

  /** The first failure is the one that counts. */
  private fail(error: OciError): OciError {
    this.failure ??= error;
    this.stop();
    return this.failure;
  }

  // One timer per idle period rather than one per chunk: it re-arms itself while bytes flow.
  private readonly watch = (): void => {
    const idleMs = this.rules.idleMs;
    const idleFor = this.waitingSince === undefined ? 0 : Date.now() - this.waitingSince;
    if (idleFor < idleMs) {
      this.watchdog = setTimeout(this.watch, idleMs - idleFor);
      return;
    }
    // A stuck client: nothing to wait for. Cancelling ends the pending read, which then throws this.
    this.finished = true;
    this.fail(
      new OciError(
        this.rules.code,
        `no bytes of the request body arrived for ${Math.round(idleMs / 1000)} s after ${this.received} bytes ` +
          `(fewer than ${MIN_READ_BYTES} bytes in that time count as stalled); nothing of this request was kept`,
        { received: this.received },
        408,
      ),
    );
    this.source.cancel().catch(() => {});
  };

  /** Stops watching for idleness (the body ended or failed). */
  private stop(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }
}

/**
 * Runs `use` with the request's body kept to `rules` (null when there is none). A declared
 * length above the limit is refused before anything runs; a body of unknown length is guarded,
 * and when it failed, that failure is the answer, whatever error it caused further down.
 */
export async function withGuardedBody<T>(
  request: Request,
  rules: BodyRules,
  waitUntil: WaitUntil | undefined,
  use: (body: BlobBody | null) => Promise<T>,
): Promise<T> {
  refuseDeclaredLength(request, rules.maxBytes, rules.tooLarge);
  // A declared length within the limit is kept by workerd itself, and a native body piped
  // natively into R2 (a one-PUT push) runs at twice the speed it has through a JavaScript stream
  // (bench/push.mjs: 76 vs 42 MB/s): such a body is not watched for idling (the upload's lease
  // still expires).
  if (request.headers.get("Content-Length") !== null) return use(request.body);
  const guarded = request.body ? new GuardedBody(request.body, rules) : undefined;
  try {
    return await use(guarded ?? null);
  } catch (error) {
    throw guarded?.failure ?? error;
  } finally {
    await guarded?.release(waitUntil);
  }
}

export type WaitUntil = (promise: Promise<unknown>) => void;

export function waitUntilOf(ctx: ExecutionContext | undefined): WaitUntil | undefined {
  return ctx ? (promise) => ctx.waitUntil(promise) : undefined;
}

/** How long the rest of a body the answer did not need is still read, at most, and how long it may idle. */
const DRAIN_LIMIT_MS = 10_000;
const DRAIN_IDLE_MS = 5_000;

/**
 * Reads and throws away what is left of a request body once the answer is decided, for a bounded
 * time — the "lingering close" of HTTP servers. Hanging up on a client that is still sending
 * makes it miss the answer (its write fails first). Under wrangler dev, a client that hangs up
 * in the middle of a body (skopeo does once it has its answer) leaves the dev proxy's connection
 * broken: the next request through it hangs. So a refused body is read to its end (within these
 * bounds) before the answer goes out; only a body nobody can wait for (a declared length above
 * the limit) is answered at once and read away in the background.
 */
export function drainBody(reader: ChunkReader, waitUntil: WaitUntil | undefined): Promise<void> {
  const started = Date.now();
  const drained = (async () => {
    try {
      for (;;) {
        if (Date.now() - started > DRAIN_LIMIT_MS) break;
        if ((await readWithin(reader, DRAIN_IDLE_MS)) === undefined) return;
      }
    } catch {
      // idle or broken off: the client is gone or stuck; let go of it
    }
    await reader.cancel().catch(() => {});
  })();
  waitUntil?.(drained);
  return drained;
}

/** Drains a body nothing read (a request refused before its handler looked at the body). */
export function drainUnread(request: Request, waitUntil: WaitUntil | undefined): void {
  if (request.body && !request.bodyUsed && !request.body.locked) drainBody(chunkReader(request.body), waitUntil);
}

function readWithin(reader: ChunkReader, ms: number): Promise<Uint8Array | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("idle")), ms);
  });
  return Promise.race([reader.read(), idle]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
