// Caching headers of JSON API answers.
// - About a digest (the reference pins one): the answer never changes →
//   `Cache-Control: public, max-age=31536000, immutable`, ETag = the digest.
// - About a tag: the tag may move → a short max-age and an ETag derived from
//   the answer, so clients revalidate with If-None-Match and get 304.

import { ifNoneMatch } from "../http/conditional";
import { toHex } from "../oci/digest";

export const IMMUTABLE = "public, max-age=31536000, immutable";
/** Seconds a tag answer may be reused without revalidation. */
export const TAG_MAX_AGE_SECONDS = 30;
export const TAG_CACHE_CONTROL = `public, max-age=${TAG_MAX_AGE_SECONDS}, must-revalidate`;

export interface Validator {
  etag: string;
  cacheControl: string;
}

/** For answers about a digest: ETag is the digest itself. */
export function digestValidator(digest: string): Validator {
  return { etag: `"${digest}"`, cacheControl: IMMUTABLE };
}

/** For answers about a tag: ETag from a hash of the answer's body. */
export async function tagValidator(body: string): Promise<Validator> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
  return { etag: `"${toHex(hash).slice(0, 32)}"`, cacheControl: TAG_CACHE_CONTROL };
}

/**
 * The answer with its validator, or 304 Not Modified (same ETag and
 * Cache-Control, no body) when the request's If-None-Match matches.
 */
export function conditionalResponse(request: Request, body: string, contentType: string, validator: Validator): Response {
  const headers = { ETag: validator.etag, "Cache-Control": validator.cacheControl, Vary: "Accept-Encoding" };
  if (ifNoneMatch(request, validator.etag)) return new Response(null, { status: 304, headers });
  return new Response(body, { status: 200, headers: { ...headers, "Content-Type": contentType } });
}
