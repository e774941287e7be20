// Request bodies the way the platform delivers them. Cloudflare's edge answers 413 to a body
// above the plan's limit (MAX_CHUNK_BYTES) whether it is declared or streamed; local wrangler
// dev would take any size, so Berth enforces the same limit itself. A body that stops arriving
// fails after the idle timeout instead of holding an upload until the client goes away, and a
// client that hangs up is an expected ending, not an internal error.

import type { Config } from "../config";
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
 * The request body as a stream that keeps the rules: it errors with the rule's OciError as soon
 * as the limit is crossed, the body idles, or the connection breaks. Storage code reading it may
 * wrap that error in its own; `failure` keeps the original so the handler can answer with it.
 */
export class GuardedBody {
  readonly stream: ReadableStream<Uint8Array>;
  failure: OciError | undefined;
  private received = 0;
  /** The source ended or broke: nothing is left to read. */
  private finished = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;

  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(source: ReadableStream<Uint8Array>, rules: BodyRules) {
    const reader = source.getReader();
    this.reader = reader;
    /** When the pending read began; undefined while the consumer is busy (backpressure is not idling). */
    let waitingSince: number | undefined;
    let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;

    const fail = (error: OciError): void => {
      if (this.failure) return;
      this.failure = error;
      this.stop();
      controllerRef?.error(error);
    };
    // One timer per idle period rather than one per chunk: it re-arms itself while bytes flow.
    const watch = (): void => {
      const idleFor = waitingSince === undefined ? 0 : Date.now() - waitingSince;
      if (idleFor >= rules.idleMs) {
        // A stuck client: nothing to wait for.
        this.finished = true;
        reader.cancel().catch(() => {});
        fail(new OciError(rules.code, `no bytes of the request body arrived for ${Math.round(rules.idleMs / 1000)} s after ${this.received} bytes; nothing of this request was kept`, { received: this.received }, 408));
        return;
      }
      this.watchdog = setTimeout(watch, rules.idleMs - idleFor);
    };

    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          controllerRef = controller;
          this.watchdog = setTimeout(watch, rules.idleMs);
        },
        pull: async (controller) => {
          let result: ReadableStreamReadResult<Uint8Array>;
          waitingSince = Date.now();
          try {
            result = await reader.read();
          } catch (error) {
            this.finished = true;
            fail(new OciError(rules.code, `the request body broke off after ${this.received} bytes (${error instanceof Error ? error.message : String(error)}); nothing of this request was kept`, { received: this.received }, 400));
            return;
          } finally {
            waitingSince = undefined;
          }
          if (result.done) this.finished = true;
          if (this.failure) return;
          if (result.done) {
            this.stop();
            controller.close();
            return;
          }
          this.received += result.value.byteLength;
          if (this.received > rules.maxBytes) {
            fail(rules.tooLarge());
            return;
          }
          controller.enqueue(result.value);
        },
        cancel: () => {
          // The consumer gave up on the body; release() reads on what the client still sends.
          this.stop();
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Once the answer is decided: whatever the client still sends is read and thrown away first (see drainBody). */
  async release(waitUntil: WaitUntil | undefined): Promise<void> {
    this.stop();
    if (!this.finished) await drainBody(this.reader, waitUntil);
  }

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
  use: (body: ReadableStream<Uint8Array> | null) => Promise<T>,
): Promise<T> {
  refuseDeclaredLength(request, rules.maxBytes, rules.tooLarge);
  // A declared length within the limit is kept by workerd itself, and a native body piped
  // natively into R2 (a one-PUT push) runs at twice the speed it has through a JavaScript stream
  // (bench/push.mjs: 76 vs 42 MB/s): such a body is not watched for idling (the upload's lease
  // still expires).
  if (request.headers.get("Content-Length") !== null) return use(request.body);
  const guarded = request.body ? new GuardedBody(request.body, rules) : undefined;
  try {
    return await use(guarded?.stream ?? null);
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
export function drainBody(reader: ReadableStreamDefaultReader<Uint8Array>, waitUntil: WaitUntil | undefined): Promise<void> {
  const started = Date.now();
  const drained = (async () => {
    try {
      for (;;) {
        if (Date.now() - started > DRAIN_LIMIT_MS) break;
        const { done } = await readWithin(reader, DRAIN_IDLE_MS);
        if (done) return;
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
  if (request.body && !request.bodyUsed && !request.body.locked) drainBody(request.body.getReader(), waitUntil);
}

function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("idle")), ms);
  });
  return Promise.race([reader.read(), idle]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
