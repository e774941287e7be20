// Maps an upstream's failure answer to the error Berth's client sees, keeping the upstream's words:
// 404 → MANIFEST_UNKNOWN / BLOB_UNKNOWN, 401/403 → DENIED, 429 → TOOMANYREQUESTS (Retry-After kept),
// 503 → UPSTREAM_UNAVAILABLE 503, other 5xx and anything unexpected → UPSTREAM_UNAVAILABLE 502.

import { OciError, type OciErrorCode } from "../http/errors";
import { readErrorText } from "./body";

export interface ErrorContext {
  upstream: string;
  /** What was asked for: `manifest library/nginx:1.27`, `token for repository:x:pull`. */
  what: string;
  /** Code for a 404, or undefined when a 404 is just a failure (token endpoints). */
  notFound?: Extract<OciErrorCode, "MANIFEST_UNKNOWN" | "BLOB_UNKNOWN">;
}

export async function errorFromResponse(response: Response, context: ErrorContext): Promise<OciError> {
  const words = upstreamWords(await readErrorText(response), response.status, response.statusText);
  const detail = { upstream: context.upstream, status: response.status };
  const status = response.status;
  const retryAfter = response.headers.get("retry-after");
  const retryHeaders: Record<string, string> = retryAfter ? { "Retry-After": retryAfter } : {};
  if (status === 404 && context.notFound) {
    return new OciError(context.notFound, `${context.what} not found at upstream ${context.upstream}: ${words}`, detail);
  }
  if (status === 401 || status === 403) {
    return new OciError("DENIED", `upstream ${context.upstream} denied ${context.what}: ${words}`, detail, 403);
  }
  if (status === 429) {
    return new OciError("TOOMANYREQUESTS", `upstream ${context.upstream} rate limit exceeded for ${context.what}: ${words}`, detail, 429, retryHeaders);
  }
  if (status === 503) {
    return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${context.upstream} is unavailable (503) for ${context.what}: ${words}`, detail, 503, retryHeaders);
  }
  if (status >= 500) {
    return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${context.upstream} failed (${status}) for ${context.what}: ${words}`, detail, 502);
  }
  return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${context.upstream} answered ${status} for ${context.what}: ${words}`, detail, 502);
}

/**
 * The message an upstream put in its body: an OCI error list, a token server's `details` /
 * `error_description` / `message` / `error`, or plain text; else the status line.
 */
export function upstreamWords(text: string, status: number, statusText = ""): string {
  const trimmed = text.trim();
  if (trimmed) {
    try {
      const json: unknown = JSON.parse(trimmed);
      const fromJson = wordsFromJson(json);
      if (fromJson) return clip(fromJson);
    } catch {
      // not JSON
    }
    if (!trimmed.startsWith("<")) return clip(trimmed.replace(/\s+/g, " "));
  }
  return `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
}

function wordsFromJson(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const record = json as Record<string, unknown>;
  if (Array.isArray(record.errors)) {
    const parts = record.errors
      .map((entry: unknown) => {
        if (typeof entry !== "object" || entry === null) return undefined;
        const { code, message } = entry as { code?: unknown; message?: unknown };
        if (typeof message === "string" && message) return typeof code === "string" && code ? `${message} (${code})` : message;
        return typeof code === "string" ? code : undefined;
      })
      .filter((part): part is string => !!part);
    if (parts.length) return parts.join("; ");
  }
  for (const key of ["details", "error_description", "message", "error"]) {
    const value = record[key];
    if (typeof value === "string" && value) return value;
  }
  return undefined;
}

function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
