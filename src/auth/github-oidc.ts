// GitHub Actions OIDC: a workflow's ID token becomes a Berth identity, with no long-lived
// secret in CI. The token endpoint calls, for a password it was given:
//   isOidcToken(password, config)            cheap routing: a JWT naming the configured issuer
//   await identityFromOidcToken(password, config)   verified identity, or an OciError
// Verification: signature against the issuer's published keys (oidc-jwks.ts, RS256/ES256 only,
// oidc-jwt.ts), `iss` exactly, `aud` the configured audience, `exp`/`nbf`/`iat` with
// CLOCK_SKEW_SECONDS of tolerance; then the trust rules (oidc-trust.ts) give the grants.
// Setup and security notes: docs/oidc.md.

import { OciError } from "../http/errors";
import type { Identity } from "./identity";
import type { OidcConfig } from "./oidc-config";
import { type JwksCache, type JwksDeps, sharedJwksCache } from "./oidc-jwks";
import { decodeJwt, unauthorized, unverifiedPayload, verifySignature } from "./oidc-jwt";
import { githubClaims, grantsFor } from "./oidc-trust";

export { parseOidcConfig, GITHUB_ISSUER, type OidcConfig, type TrustRule } from "./oidc-config";

export const CLOCK_SKEW_SECONDS = 60;

export interface OidcDeps extends JwksDeps {
  /** Defaults to the cache shared by the isolate; tests pass their own. */
  keys?: JwksCache;
}

/** True when `token` looks like a JWT from the configured issuer (nothing verified: routing only). */
export function isOidcToken(token: string, config: OidcConfig): boolean {
  return unverifiedPayload(token)?.iss === config.issuer;
}

/**
 * Verifies a GitHub Actions ID token and maps it to a workflow identity with the grants of the
 * matching trust rules. Throws OciError UNAUTHORIZED (invalid, expired, wrong audience or
 * issuer, unknown key, bad signature), DENIED (valid, but no trust rule matches) or
 * UPSTREAM_UNAVAILABLE 503 (the issuer's keys cannot be fetched and none are cached).
 */
export async function identityFromOidcToken(token: string, config: OidcConfig, deps: OidcDeps = {}): Promise<Identity> {
  const jwt = decodeJwt(token);
  // Claims are checked before the signature so that tokens of other issuers never make Berth
  // fetch keys; nothing is trusted until the signature is verified below.
  checkTimes(jwt.payload, (deps.now ?? Date.now)());
  if (jwt.payload.iss !== config.issuer) throw unauthorized(`issuer ${JSON.stringify(jwt.payload.iss)} is not the configured issuer ${config.issuer}`);
  const audiences = Array.isArray(jwt.payload.aud) ? jwt.payload.aud : [jwt.payload.aud];
  if (!audiences.includes(config.audience)) {
    throw unauthorized(`audience ${JSON.stringify(jwt.payload.aud ?? null)} is not ${config.audience}: request the ID token with audience=${config.audience}`);
  }

  const jwk = await (deps.keys ?? sharedJwksCache).key(config.issuer, jwt.header.kid, deps);
  if (!jwk) throw unauthorized(`the issuer publishes no key ${JSON.stringify(jwt.header.kid)}`);
  await verifySignature(jwt, jwk);

  const claims = githubClaims(jwt.payload);
  const grants = grantsFor(config.rules, claims);
  const name = `github:${claims.repository}@${claims.ref}`;
  if (grants.length === 0) {
    throw new OciError("DENIED", `no OIDC trust rule matches ${name} (repository_id ${claims.repository_id}, repository_owner_id ${claims.repository_owner_id})`);
  }
  return { kind: "workflow", name, grants };
}

function checkTimes(payload: Record<string, unknown>, nowMs: number): void {
  const now = Math.floor(nowMs / 1000);
  const { exp, nbf, iat } = payload;
  if (typeof exp !== "number" || !Number.isFinite(exp)) throw unauthorized("no expiry (exp)");
  if (now > exp + CLOCK_SKEW_SECONDS) throw unauthorized(`expired at ${new Date(exp * 1000).toISOString()}`);
  if (nbf !== undefined && (typeof nbf !== "number" || now < nbf - CLOCK_SKEW_SECONDS)) throw unauthorized("not valid yet (nbf)");
  if (typeof iat !== "number" || now < iat - CLOCK_SKEW_SECONDS) throw unauthorized("issued in the future (iat) or no iat");
}
