import type { ParsedDigest } from "../oci/digest";

/** Content-addressed R2 key for blobs written when their digest is known up front. */
export function contentKey(digest: ParsedDigest): string {
  return `blobs/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}`;
}
