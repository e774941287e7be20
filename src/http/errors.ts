// Every error a client sees is an OCI error body. Code paths throw OciError;
// the router renders it. Nothing else is thrown on purpose.

export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "RANGE_INVALID"
  | "TAG_INVALID"
  | "PLATFORM_UNKNOWN"
  | "REFERENCE_INVALID"
  | "UPSTREAM_UNAVAILABLE"
  | "INTERNAL";

const DEFAULT_STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  TAG_INVALID: 400,
  PLATFORM_UNKNOWN: 404,
  REFERENCE_INVALID: 400,
  UPSTREAM_UNAVAILABLE: 502,
  INTERNAL: 500,
};

/** Plain data form, safe to pass across Durable Object RPC. */
export interface OciErrorData {
  code: OciErrorCode;
  message: string;
  detail?: unknown;
  status?: number;
}

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message: string, detail?: unknown, status?: number, headers: Record<string, string> = {}) {
    super(message);
    this.name = "OciError";
    this.code = code;
    this.status = status ?? DEFAULT_STATUS[code];
    this.detail = detail;
    this.headers = headers;
  }

  static from(data: OciErrorData): OciError {
    return new OciError(data.code, data.message, data.detail, data.status);
  }

  toData(): OciErrorData {
    return { code: this.code, message: this.message, detail: this.detail, status: this.status };
  }

  toResponse(method = "GET"): Response {
    const body = JSON.stringify({ errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] });
    const headers = new Headers({ "Content-Type": "application/json; charset=utf-8", ...this.headers });
    // HEAD responses carry no body, but clients still read the status.
    return new Response(method === "HEAD" ? null : body, { status: this.status, headers });
  }
}

/** Result type for Durable Object RPC methods: errors travel as data and are re-thrown by the caller. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: OciErrorData };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: OciErrorCode, message: string, detail?: unknown, status?: number): Result<T> {
  return { ok: false, error: { code, message, detail, status } };
}

export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw OciError.from(result.error);
}
