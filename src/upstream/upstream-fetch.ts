// One logical upstream request: redirects followed by hand (redirect: "manual"), Authorization
// sent only to the origin it belongs to, every hop checked by the address policy, and a deadline
// for the response headers (the body has its own idle timeout, see body.ts).

import { OciError } from "../http/errors";
import { checkTarget } from "./address-policy";
import { messageOf, seconds } from "./body";
import type { UpstreamConfig } from "./config";
import type { UpstreamObserver, UpstreamRequestKind } from "./observer";
import { parseRateLimit } from "./observer";

export type Fetcher = (request: Request) => Promise<Response>;

export const defaultFetcher: Fetcher = (request) => fetch(request);

export interface UpstreamFetchOptions {
  upstream: UpstreamConfig;
  kind: UpstreamRequestKind;
  method: "GET" | "HEAD";
  url: string;
  headers?: Record<string, string>;
  /** Sent only to `authOrigin`. */
  authorization?: string;
  /** The origin credentials belong to; defaults to the origin of `url`. */
  authOrigin?: string;
  timeoutMs: number;
  maxRedirects: number;
  fetcher: Fetcher;
  observer: UpstreamObserver;
  /** For messages: `manifest library/nginx:1.27`. */
  what: string;
}

export interface UpstreamFetchResult {
  response: Response;
  /** The URL that produced `response` (after redirects). */
  url: URL;
  /** True when `response` came from the credentials' origin (a 401 there means: authenticate). */
  fromAuthOrigin: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function upstreamFetch(options: UpstreamFetchOptions): Promise<UpstreamFetchResult> {
  const { upstream } = options;
  const start = new URL(options.url);
  const authOrigin = options.authOrigin ?? start.origin;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error("upstream headers timeout"));
  }, options.timeoutMs);

  try {
    let url = start;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(options.headers);
      const sendAuth = options.authorization !== undefined && url.origin === authOrigin;
      if (sendAuth) headers.set("Authorization", options.authorization!);
      options.observer.onRequest(options.kind);
      let response: Response;
      try {
        response = await options.fetcher(new Request(url.toString(), { method: options.method, headers, redirect: "manual", signal: controller.signal }));
      } catch (error) {
        if (timedOut) {
          throw new OciError(
            "UPSTREAM_UNAVAILABLE",
            `upstream ${upstream.name} did not answer within ${seconds(options.timeoutMs)} for ${options.what}`,
            { upstream: upstream.name },
            504,
          );
        }
        throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream.name} unreachable for ${options.what}: ${messageOf(error)}`, { upstream: upstream.name }, 502);
      }
      const rateLimit = parseRateLimit(response.headers);
      if (rateLimit) options.observer.onRateLimit(rateLimit.limit, rateLimit.remaining, rateLimit.windowSeconds);

      if (!REDIRECTS.has(response.status)) {
        return { response, url, fromAuthOrigin: url.origin === authOrigin };
      }
      response.body?.cancel().catch(() => {});
      if (hop >= options.maxRedirects) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream.name}: too many redirects for ${options.what}`, { upstream: upstream.name }, 502);
      }
      const location = response.headers.get("location");
      if (!location) {
        throw new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream.name} answered ${response.status} without Location for ${options.what}`, { upstream: upstream.name }, 502);
      }
      url = checkTarget(location, url.toString(), {
        upstream: upstream.name,
        allowPrivateAddresses: upstream.allowPrivateAddresses,
        what: `redirect for ${options.what}`,
      });
    }
  } finally {
    clearTimeout(timer);
  }
}
