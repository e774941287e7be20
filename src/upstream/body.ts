// Reading upstream bodies without trusting them: a body that stalls longer than the idle timeout,
// ends short of its Content-Length, runs past it, or (when a digest is given) hashes to something
// else becomes a stream error — never a hang and never a complete-looking wrong body. With a
// digest the last chunk is held back until the hash matched, so a consumer that only sees
// "done" has seen verified bytes.

import { OciError } from "../http/errors";
import { type ParsedDigest, subtleName, toHex } from "../oci/digest";
import { chunkReader } from "../streams/chunk-reader";

export interface GuardOptions {
  /** Upstream name, for messages. */
  upstream: string;
  /** What is being read, for messages: `blob sha256:… of library/nginx`. */
  what: string;
  idleTimeoutMs: number;
  expectedLength?: number;
  digest?: ParsedDigest;
  /** Called once: when the body ended, failed or was cancelled, with the bytes received. */
  onEnd?: (bytes: number, error?: OciError) => void;
}

export function guardBody(body: ReadableStream<Uint8Array>, options: GuardOptions): ReadableStream<Uint8Array> {
  // Whatever has arrived, up to 64 KiB at once rather than piece by piece: every read here costs a
  // timer and a hash write. Not a fixed 64 KiB: a byte that came must count before the idle timeout.
  const reader = chunkReader(body, { keep: true, minBytes: 1 });
  const hasher = options.digest ? new crypto.DigestStream(subtleName(options.digest.algorithm)) : undefined;
  const hashWriter = hasher?.getWriter();
  // An aborted DigestStream rejects its digest promise; nobody awaits it then.
  hasher?.digest.catch(() => {});
  let received = 0;
  let held: Uint8Array | undefined;
  let ended = false;

  const end = (error?: OciError): void => {
    if (ended) return;
    ended = true;
    options.onEnd?.(received, error);
  };
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: OciError): void => {
    end(error);
    controller.error(error);
    reader.cancel().catch(() => {});
    hashWriter?.abort(error).catch(() => {});
  };
  const broken = (why: string): OciError =>
    new OciError("UPSTREAM_UNAVAILABLE", `upstream ${options.upstream}: ${options.what}: ${why}`, { upstream: options.upstream }, 502);

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let chunk: Uint8Array | undefined;
          try {
            chunk = await withTimeout(reader.read(), options.idleTimeoutMs);
          } catch (error) {
            if (error instanceof TimeoutError) {
              fail(controller, new OciError("UPSTREAM_UNAVAILABLE", `upstream ${options.upstream}: ${options.what}: no data for ${seconds(options.idleTimeoutMs)}`, { upstream: options.upstream }, 504));
            } else {
              fail(controller, broken(`connection broke after ${received} bytes (${messageOf(error)})`));
            }
            return;
          }
          if (chunk === undefined) {
            if (options.expectedLength !== undefined && received !== options.expectedLength) {
              fail(controller, broken(`body ended after ${received} of ${options.expectedLength} bytes`));
              return;
            }
            if (hasher && hashWriter && options.digest) {
              await hashWriter.close();
              const actual = `${options.digest.algorithm}:${toHex(await hasher.digest)}`;
              if (actual !== options.digest.digest) {
                fail(controller, broken(`content has digest ${actual}, expected ${options.digest.digest}`));
                return;
              }
            }
            if (held) controller.enqueue(held);
            held = undefined;
            controller.close();
            end();
            return;
          }
          if (chunk.byteLength === 0) continue;
          received += chunk.byteLength;
          if (options.expectedLength !== undefined && received > options.expectedLength) {
            fail(controller, broken(`body is longer than its Content-Length ${options.expectedLength}`));
            return;
          }
          if (!hashWriter) {
            controller.enqueue(chunk);
            return;
          }
          await hashWriter.write(chunk);
          const previous = held;
          held = chunk;
          if (previous) {
            controller.enqueue(previous);
            return;
          }
        }
      },
      async cancel(reason) {
        end();
        hashWriter?.abort(reason).catch(() => {});
        await reader.cancel().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** Gives a stream of known length (so Responses and R2 get a Content-Length). */
export function withKnownLength(stream: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(length);
  stream.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
}

export { readAll } from "../streams/read-all";

/** Best-effort text of an error body: at most `maxBytes`, within `timeoutMs`, never throws. */
export async function readErrorText(response: Response, maxBytes = 16_384, timeoutMs = 5_000): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < maxBytes) {
      const { done, value } = await withTimeout(reader.read(), timeoutMs);
      if (done) break;
      chunks.push(value);
      length += value.byteLength;
    }
  } catch {
    // whatever arrived is enough for a message
  }
  reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(length, maxBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const take = chunk.subarray(0, bytes.length - offset);
    bytes.set(take, offset);
    offset += take.byteLength;
    if (offset >= bytes.length) break;
  }
  return new TextDecoder().decode(bytes);
}

export class TimeoutError extends Error {
  constructor() {
    super("timed out");
    this.name = "TimeoutError";
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
