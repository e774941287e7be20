// What the upstream client reports about its traffic. The durable stats store implements this;
// calls are fire-and-forget and must not throw (the client guards them anyway).

export type UpstreamRequestKind = "token" | "head-manifest" | "get-manifest" | "head-blob" | "get-blob";

export interface UpstreamObserver {
  /** One HTTP request sent (each redirect hop and each retry after a 401 counts). */
  onRequest(kind: UpstreamRequestKind): void;
  /** Last figures from `ratelimit-limit` / `ratelimit-remaining` (e.g. `100;w=21600`). */
  onRateLimit(limit: number, remaining: number, windowSeconds?: number): void;
  /** A failure a client will see (upstream 404s are answers, not errors, and are not reported). */
  onError(message: string): void;
  /** Body bytes received from the upstream: once per blob body when it ends, once per manifest read whole. */
  onBytes(bytes: number): void;
}

export const noopObserver: UpstreamObserver = {
  onRequest() {},
  onRateLimit() {},
  onError() {},
  onBytes() {},
};

/** Wraps an observer so that nothing it does (throwing, returning a rejected promise) reaches the client. */
export function safeObserver(observer: UpstreamObserver): UpstreamObserver {
  const guard = (call: () => unknown): void => {
    try {
      const result = call();
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // observation must never break a pull
    }
  };
  return {
    onRequest: (kind) => guard(() => observer.onRequest(kind)),
    onRateLimit: (limit, remaining, window) => guard(() => observer.onRateLimit(limit, remaining, window)),
    onError: (message) => guard(() => observer.onError(message)),
    onBytes: (bytes) => guard(() => observer.onBytes(bytes)),
  };
}

export interface RateLimit {
  limit: number;
  remaining: number;
  windowSeconds?: number;
}

/** Reads Docker Hub's `ratelimit-limit: 100;w=21600` / `ratelimit-remaining: 76;w=21600`. */
export function parseRateLimit(headers: Headers): RateLimit | undefined {
  const limit = parseRateLimitValue(headers.get("ratelimit-limit"));
  const remaining = parseRateLimitValue(headers.get("ratelimit-remaining"));
  if (!limit || !remaining) return undefined;
  const result: RateLimit = { limit: limit.value, remaining: remaining.value };
  const window = limit.window ?? remaining.window;
  if (window !== undefined) result.windowSeconds = window;
  return result;
}

function parseRateLimitValue(raw: string | null): { value: number; window?: number } | undefined {
  if (!raw) return undefined;
  const match = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/i.exec(raw);
  if (!match) return undefined;
  const result: { value: number; window?: number } = { value: Number(match[1]) };
  if (match[2] !== undefined) result.window = Number(match[2]);
  return result;
}
