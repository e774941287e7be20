// Content digests of buffers and file ranges (streamed, native hashing).

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export function digestOf(bytes, algorithm = "sha256") {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** Throws unless `bytes` hash to `digest` (sha256 or sha512). */
export function verifyDigest(bytes, digest, what) {
  const algorithm = digest.split(":")[0];
  if (algorithm !== "sha256" && algorithm !== "sha512") throw new Error(`${what}: unsupported digest ${digest}`);
  const actual = digestOf(bytes, algorithm);
  if (actual !== digest) throw new Error(`${what}: content hashes to ${actual}, not ${digest}`);
}

/** sha256 of bytes [start, start+length) of a file, read as a stream. */
export async function digestFileRange(path, start, length) {
  const hash = createHash("sha256");
  if (length > 0) for await (const piece of createReadStream(path, { start, end: start + length - 1, highWaterMark: 1 << 20 })) hash.update(piece);
  return `sha256:${hash.digest("hex")}`;
}
