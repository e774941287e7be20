// The issuer's signing keys, found through OIDC discovery (`<issuer>/.well-known/openid-configuration`
// → `jwks_uri`; GitHub's is `<issuer>/.well-known/jwks`) and cached per isolate. A token whose
// `kid` is not in the cached set triggers one refetch (the issuer rotated its keys), at most once
// per REFETCH_INTERVAL_MS, so a stream of tokens with made-up kids cannot make Berth hammer the
// issuer. When the issuer cannot be reached, keys fetched earlier keep working.

import { OciError } from "../http/errors";
import { readAll } from "../streams/read-all";
import type { Jwk } from "./oidc-jwt";

export const JWKS_TTL_MS = 10 * 60_000;
export const REFETCH_INTERVAL_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 256 * 1024;

export interface JwksDeps {
  fetch?: typeof fetch;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

interface Entry {
  keys: Map<string, Jwk>;
  fetchedAt: number;
}

function unavailable(issuer: string, problem: string): OciError {
  return new OciError("UPSTREAM_UNAVAILABLE", `cannot fetch the signing keys of the OIDC issuer ${issuer}: ${problem}`, undefined, 503);
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  /** When each issuer was last asked (successfully or not): the refetch rate limit. */
  private readonly lastAttempt = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<Entry>>();

  /** The key named `kid`, or undefined when the issuer does not publish it (after at most one refetch). */
  async key(issuer: string, kid: string, deps: JwksDeps = {}): Promise<Jwk | undefined> {
    const now = (deps.now ?? Date.now)();
    const entry = this.entries.get(issuer);
    const fresh = entry !== undefined && now - entry.fetchedAt < JWKS_TTL_MS;
    if (fresh && entry.keys.has(kid)) return entry.keys.get(kid);

    const last = this.lastAttempt.get(issuer);
    const mayFetch = last === undefined || now - last >= REFETCH_INTERVAL_MS;
    if (!mayFetch) {
      if (entry) return entry.keys.get(kid);
      throw unavailable(issuer, "the last attempt failed moments ago; try again shortly");
    }
    try {
      const updated = await this.refresh(issuer, now, deps);
      return updated.keys.get(kid);
    } catch (error) {
      // Keys fetched earlier stay usable while the issuer is unreachable.
      const known = entry?.keys.get(kid);
      if (known) return known;
      throw error;
    }
  }

  private refresh(issuer: string, now: number, deps: JwksDeps): Promise<Entry> {
    const running = this.inflight.get(issuer);
    if (running) return running;
    this.lastAttempt.set(issuer, now);
    const promise = fetchKeys(issuer, deps.fetch ?? fetch)
      .then((keys) => {
        const entry = { keys, fetchedAt: now };
        this.entries.set(issuer, entry);
        return entry;
      })
      .finally(() => this.inflight.delete(issuer));
    this.inflight.set(issuer, promise);
    return promise;
  }
}

/** The cache every request of this isolate shares. */
export const sharedJwksCache = new JwksCache();

async function fetchJson(issuer: string, url: string, fetchImpl: typeof fetch): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetchImpl(url, { headers: { Accept: "application/json" }, redirect: "manual", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    throw unavailable(issuer, `${url}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (response.status !== 200 || !response.body) {
    await response.body?.cancel().catch(() => {});
    throw unavailable(issuer, `${url} answered HTTP ${response.status}`);
  }
  const bytes = await readAll(response.body, MAX_DOCUMENT_BYTES, () => unavailable(issuer, `${url} is larger than ${MAX_DOCUMENT_BYTES} bytes`));
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw unavailable(issuer, `${url} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw unavailable(issuer, `${url} is not a JSON object`);
  return value as Record<string, unknown>;
}

async function fetchKeys(issuer: string, fetchImpl: typeof fetch): Promise<Map<string, Jwk>> {
  const discovery = await fetchJson(issuer, `${issuer}/.well-known/openid-configuration`, fetchImpl);
  if (discovery.issuer !== issuer) throw unavailable(issuer, `the discovery document names issuer ${JSON.stringify(discovery.issuer)}`);
  const jwksUri = discovery.jwks_uri;
  // Keys come from the issuer's own origin, never from wherever a document points.
  if (typeof jwksUri !== "string" || !URL.canParse(jwksUri) || new URL(jwksUri).origin !== new URL(issuer).origin) {
    throw unavailable(issuer, `jwks_uri ${JSON.stringify(jwksUri)} is not on the issuer's origin`);
  }
  const jwks = await fetchJson(issuer, jwksUri, fetchImpl);
  if (!Array.isArray(jwks.keys)) throw unavailable(issuer, `${jwksUri} has no "keys" array`);
  const keys = new Map<string, Jwk>();
  for (const key of jwks.keys as unknown[]) {
    if (typeof key !== "object" || key === null) continue;
    const kid = (key as Jwk).kid;
    if (typeof kid === "string" && kid !== "") keys.set(kid, key as Jwk);
  }
  return keys;
}
