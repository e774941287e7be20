import type { OciError } from "../http/errors";

/**
 * Reads a small body (a manifest, a config, a token response) into memory,
 * refusing more than `maxBytes`. Blobs never come through here.
 */
export async function readAll(body: ReadableStream<Uint8Array>, maxBytes: number, tooLarge: () => OciError): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
