// Blob and manifest bytes must leave exactly as stored, with Content-Length:
// "manual" body encoding stops workerd from gzipping them for Go clients that
// send Accept-Encoding: gzip (that cost a peer registry 40x in pull speed).

export function bytesResponse(body: BodyInit | null, status: number, headers: Record<string, string>): Response {
  return new Response(body, { status, headers, encodeBody: "manual" });
}

export function jsonResponse(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers });
}

/** `Link: <url>; rel="next"` for paginated lists. */
export function nextLink(path: string, limit: number, last: string): string {
  const query = new URLSearchParams({ n: String(limit), last });
  return `<${path}?${query}>; rel="next"`;
}
