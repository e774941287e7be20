// Turns received bytes into a stored, verified, registered blob. Whatever the
// path — a whole body whose digest R2 checks, or an upload assembled from
// chunks — the blob becomes visible only after its digest matched, and a
// mismatch leaves nothing behind.

import { OciError } from "../http/errors";
import { digestBytes, type ParsedDigest } from "../oci/digest";
import { blobIndexStub } from "./blob-index-do";
import { contentKey } from "./blob-keys";
import { hashObject } from "./object-reader";
import type { BlobInfo } from "./repository";
import type { UploadSession } from "./upload-session";
import { UploadWriter, type FinishedUpload } from "./upload-writer";
import type { BlobBody } from "../streams/chunk-reader";

/** R2's single-put ceiling; larger blobs go through multipart parts. */
export const MAX_SINGLE_PUT = 5 * 1024 * 1024 * 1024 - 1;

export interface StoredBlob extends BlobInfo {
  key: string;
}

/**
 * Stores a body of known length at its content key; R2 itself verifies the
 * digest. `heldPin` is a pin the caller already holds (a cache fill leader).
 */
export async function storeWhole(
  env: Env,
  repository: string,
  digest: ParsedDigest,
  body: ReadableStream<Uint8Array> | Uint8Array,
  length: number,
  heldPin?: string,
): Promise<StoredBlob> {
  const index = blobIndexStub(env, digest.digest);
  const pin = heldPin ?? (await index.pin(digest.digest));
  const key = contentKey(digest);
  try {
    const value = body instanceof Uint8Array ? body : body.pipeThrough(new FixedLengthStream(length));
    await env.BLOBS.put(key, value, { [digest.algorithm]: digest.hex });
  } catch (error) {
    await index.releasePin(pin);
    if (isChecksumMismatch(error)) throw digestMismatch(digest.digest);
    if (error instanceof TypeError && /length/i.test(error.message)) {
      throw new OciError("SIZE_INVALID", `body length does not match the declared ${length} bytes`);
    }
    throw error;
  }
  const canonical = await index.register(digest.digest, key, length, repository, pin);
  return { digest: digest.digest, size: length, key: canonical };
}

/** Verifies and registers an upload that ended; deletes what it wrote on mismatch. */
export async function storeFinished(env: Env, repository: string, digest: ParsedDigest, finished: FinishedUpload, heldPin?: string): Promise<StoredBlob> {
  if (finished.kind === "small") {
    // Small enough to hash here whatever the algorithm (storeWhole's put checks it again).
    if ((await digestBytes(finished.bytes, digest.algorithm)) !== digest.digest) throw digestMismatch(digest.digest);
    return storeWhole(env, repository, digest, finished.bytes, finished.bytes.length, heldPin);
  }
  const actual = digest.algorithm === "sha256" && finished.sha256 !== undefined ? finished.sha256 : await hashObject(env.BLOBS, finished.key, finished.size, digest);
  if (actual !== digest.hex) {
    await env.BLOBS.delete(finished.key);
    throw digestMismatch(digest.digest);
  }
  const canonical = await blobIndexStub(env, digest.digest).register(digest.digest, finished.key, finished.size, repository, heldPin);
  if (canonical !== finished.key) await env.BLOBS.delete(finished.key);
  return { digest: digest.digest, size: finished.size, key: canonical };
}

/**
 * Writes the rest of a body (any length) after what `session` holds, then verifies and registers
 * it. `beforeAssembly` may refuse (throw) once all bytes are in, before the parts become one object.
 */
export async function storeStream(
  env: Env,
  repository: string,
  digest: ParsedDigest,
  session: UploadSession,
  body: BlobBody | null,
  heldPin?: string,
  beforeAssembly?: () => Promise<void>,
): Promise<StoredBlob> {
  // The request that ends the upload: native hashing serves it when it carries the whole blob.
  const writer = await UploadWriter.open(env.BLOBS, session, true);
  let finished: FinishedUpload;
  try {
    if (body) await writer.write(body);
    await beforeAssembly?.();
    finished = await writer.finish();
  } catch (error) {
    await writer.discard();
    throw error;
  }
  return storeFinished(env, repository, digest, finished, heldPin);
}

/** R2 refused a put whose bytes do not hash to the checksum given with it. */
export function isChecksumMismatch(error: unknown): boolean {
  return error instanceof Error && /checksum|digest|sha-?(256|512)|10037|BadDigest/i.test(error.message);
}

function digestMismatch(digest: string): OciError {
  return new OciError("DIGEST_INVALID", `uploaded content does not match digest ${digest}`);
}
