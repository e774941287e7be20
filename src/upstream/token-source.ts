// Upstream authentication (the Docker token flow): after a 401 with a Bearer challenge, GET
// realm?service=…&scope=repository:<repo>:pull (Basic credentials when configured) and cache the
// token per (upstream, scope) until shortly before it expires. A Basic challenge is answered with
// the configured credentials, remembered so later requests send them at once. Pull scope only.

import { OciError } from "../http/errors";
import { checkTarget } from "./address-policy";
import { readAll, guardBody, messageOf } from "./body";
import type { UpstreamConfig } from "./config";
import { noopObserver, type UpstreamObserver } from "./observer";
import type { TokenCache } from "./token-cache";
import { errorFromResponse } from "./upstream-error";
import { defaultFetcher, type Fetcher, upstreamFetch } from "./upstream-fetch";
import { type BearerChallenge, type Challenge, bearerChallenge, hasScheme } from "./www-authenticate";

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
const BASIC_HINT_SECONDS = 3600;
const MAX_TOKEN_RESPONSE_BYTES = 1 << 20;

export interface TokenSourceOptions {
  fetcher?: Fetcher;
  observer?: UpstreamObserver;
  /** Headers deadline for token requests; defaults to the upstream's timeoutSeconds. */
  timeoutMs?: number;
  now?: () => number;
}

export interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
  issued_at?: unknown;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/**
 * Seconds a token may be cached: `expires_in` (default 60 s), shortened when `issued_at` shows it
 * was issued a while ago, minus a safety margin (10 %, between 1 and 30 s). 0 means: do not cache.
 */
export function tokenTtlSeconds(body: TokenResponse, nowMs: number): number {
  const expiresIn = typeof body.expires_in === "number" && Number.isFinite(body.expires_in) && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_SECONDS;
  let remaining = expiresIn;
  if (typeof body.issued_at === "string") {
    const issued = Date.parse(body.issued_at);
    // An issued_at in the future means our clock is behind: trust expires_in alone.
    if (Number.isFinite(issued) && issued <= nowMs) remaining = Math.min(expiresIn, expiresIn - (nowMs - issued) / 1000);
  }
  const margin = Math.min(30, Math.max(1, expiresIn * 0.1));
  return Math.max(0, Math.floor(remaining - margin));
}

export function basicAuthorization(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

export class TokenSource {
  private readonly fetcher: Fetcher;
  private readonly observer: UpstreamObserver;
  private readonly now: () => number;

  constructor(
    private readonly cache: TokenCache,
    private readonly options: TokenSourceOptions = {},
  ) {
    this.fetcher = options.fetcher ?? defaultFetcher;
    this.observer = options.observer ?? noopObserver;
    this.now = options.now ?? (() => Date.now());
  }

  /** An Authorization value known to work for (upstream, scope), without any request. */
  async cachedAuthorization(upstream: UpstreamConfig, scope: string): Promise<string | undefined> {
    const token = await this.cache.get(tokenKey(upstream, scope));
    if (token) return `Bearer ${token}`;
    if (upstream.credentials && (await this.cache.get(basicKey(upstream)))) {
      return basicAuthorization(upstream.credentials.username, upstream.credentials.password);
    }
    return undefined;
  }

  /**
   * Answers a 401's challenges: a fresh Bearer token, or Basic credentials. Undefined when there
   * is nothing to answer with (Basic without configured credentials, unknown schemes).
   */
  async authorize(upstream: UpstreamConfig, challenges: Challenge[], scope: string): Promise<string | undefined> {
    const bearer = bearerChallenge(challenges);
    if (bearer) return `Bearer ${await this.fetchToken(upstream, bearer, scope)}`;
    if (hasScheme(challenges, "basic") && upstream.credentials) {
      await this.cache.put(basicKey(upstream), "1", BASIC_HINT_SECONDS);
      return basicAuthorization(upstream.credentials.username, upstream.credentials.password);
    }
    return undefined;
  }

  /** Always asks the realm (a cached token was rejected or there was none) and caches the answer. */
  async fetchToken(upstream: UpstreamConfig, challenge: BearerChallenge, scope: string): Promise<string> {
    const what = `token for ${scope}`;
    const realm = checkTarget(challenge.realm, upstream.url, {
      upstream: upstream.name,
      allowPrivateAddresses: upstream.allowPrivateAddresses,
      what: `token realm ${challenge.realm}`,
    });
    if (challenge.service !== undefined) realm.searchParams.set("service", challenge.service);
    realm.searchParams.set("scope", scope);

    const timeoutMs = this.options.timeoutMs ?? upstream.timeoutSeconds * 1000;
    const { response } = await upstreamFetch({
      upstream,
      kind: "token",
      method: "GET",
      url: realm.toString(),
      headers: { Accept: "application/json" },
      authorization: upstream.credentials ? basicAuthorization(upstream.credentials.username, upstream.credentials.password) : undefined,
      timeoutMs,
      maxRedirects: 3,
      fetcher: this.fetcher,
      observer: this.observer,
      what,
    });
    if (response.status !== 200) throw await errorFromResponse(response, { upstream: upstream.name, what });

    const invalid = (why: string): OciError =>
      new OciError("UPSTREAM_UNAVAILABLE", `upstream ${upstream.name}: token service answered ${why}`, { upstream: upstream.name }, 502);
    let body: TokenResponse;
    try {
      const stream = response.body ? guardBody(response.body, { upstream: upstream.name, what, idleTimeoutMs: timeoutMs }) : undefined;
      const bytes = stream ? await readAll(stream, MAX_TOKEN_RESPONSE_BYTES, () => invalid("more than 1 MiB")) : new Uint8Array();
      const json: unknown = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof json !== "object" || json === null) throw invalid("something that is not a JSON object");
      body = json as TokenResponse;
    } catch (error) {
      if (error instanceof OciError) throw error;
      throw invalid(`invalid JSON (${messageOf(error)})`);
    }
    const token = typeof body.token === "string" && body.token ? body.token : typeof body.access_token === "string" && body.access_token ? body.access_token : undefined;
    if (!token) throw invalid("no token");
    const ttl = tokenTtlSeconds(body, this.now());
    if (ttl >= 1) await this.cache.put(tokenKey(upstream, scope), token, ttl);
    return token;
  }
}

function tokenKey(upstream: UpstreamConfig, scope: string): string {
  return `${upstream.name}\n${scope}`;
}

function basicKey(upstream: UpstreamConfig): string {
  return `${upstream.name}\nbasic`;
}
