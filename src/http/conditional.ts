// RFC 9110 §13.1.2 If-None-Match, shared by the OCI API (manifests, blobs) and the JSON API.

/** One element of the list: an entity tag (optional W/, a quoted opaque tag that may hold commas) or nothing. */
const LIST_ELEMENT = String.raw`[ \t]*(?:(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*)?(?:,|$)`;

/**
 * True when `If-None-Match` matches `etag` with the weak comparison GET and HEAD use: `*`
 * (the representation exists, which the caller has established), or any entity tag of the list
 * equal to `etag` once `W/` is set aside. A list that does not parse matches nothing: the
 * request is answered as if unconditional.
 */
export function ifNoneMatch(request: Request, etag: string): boolean {
  const header = request.headers.get("If-None-Match");
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const wanted = etag.replace(/^W\//, "");
  const element = new RegExp(LIST_ELEMENT, "y");
  let matched = false;
  while (element.lastIndex < header.length) {
    const match = element.exec(header);
    if (!match) return false;
    if (match[1] === wanted) matched = true;
  }
  return matched;
}
