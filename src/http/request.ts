import { readAll } from "../streams/read-all";
import { OciError } from "./errors";
import { withGuardedBody, type WaitUntil } from "./request-body";

/** The declared body length, or undefined for chunked transfer encoding. */
export function contentLength(request: Request): number | undefined {
  const header = request.headers.get("Content-Length");
  if (header === null) return undefined;
  if (!/^\d+$/.test(header.trim())) throw new OciError("SIZE_INVALID", `invalid Content-Length "${header}"`);
  return Number(header);
}

/**
 * Reads a small body (manifests) into memory, refusing more than `limit` bytes with 413 — a
 * declared length at once, before reading — and a body idle for `idleMs`.
 */
export async function readLimited(request: Request, limit: number, idleMs: number, waitUntil: WaitUntil | undefined): Promise<Uint8Array> {
  const rules = { maxBytes: limit, idleMs, tooLarge: () => tooLarge(limit), code: "MANIFEST_INVALID" } as const;
  return withGuardedBody(request, rules, waitUntil, async (body) => (body ? readAll(body, limit, rules.tooLarge) : new Uint8Array(0)));
}

/** Query parameter `n` for paginated lists: absent → undefined; invalid → 400. */
export function pageSize(url: URL, max: number): number | undefined {
  const raw = url.searchParams.get("n");
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new OciError("SIZE_INVALID", `invalid page size n="${raw}"`, undefined, 400);
  return Math.min(Number(raw), max);
}

/** Route parameters as itty-router captured them, percent-decoded. */
export function param(request: Request & { params?: Record<string, string> }, name: string): string {
  const raw = request.params?.[name] ?? "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function tooLarge(limit: number): OciError {
  return new OciError("SIZE_INVALID", `manifest exceeds the ${limit}-byte limit (MAX_MANIFEST_BYTES)`, { limit }, 413);
}
