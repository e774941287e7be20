import type { OciError } from "../http/errors";
import { chunkReader, type BlobBody } from "./chunk-reader";

/**
 * Reads a small body (a manifest, a config, a token response) into memory,
 * refusing more than `maxBytes`. Blobs never come through here.
 */
export async function readAll(body: BlobBody, maxBytes: number, tooLarge: () => OciError): Promise<Uint8Array> {
  const reader = chunkReader(body);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const value = await reader.read();
    if (value === undefined) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value.slice()); // the reader reuses its buffer
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
