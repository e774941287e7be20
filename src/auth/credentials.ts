// Credential sources: each turns a presented secret into a Principal, or says
// "not mine" (null) so the next source is asked. The token endpoint (Basic,
// OAuth2 password grant) and the request gate (Basic or a non-JWT Bearer value
// sent straight to /v2/) ask the same list, in order.
//
// The seam for new kinds of credentials: a source is one entry in
// CREDENTIAL_SOURCES. GitHub Actions OIDC is such an entry: "the password is
// a GitHub ID token (a JWT from the configured issuer) → verify it, apply the
// trust rules → Identity of kind workflow" (src/auth/github-oidc.ts).

import type { Identity } from "./identity";
import type { AuthConfig } from "./auth-config";
import { verifyPassword, timingSafeEqual } from "./password";
import { identityFromOidcToken, isOidcToken, parseOidcConfig } from "./github-oidc";
import { robotTokenSource } from "./robot-tokens";
import { readRefreshToken } from "./tokens";

export interface PresentedCredentials {
  /** The Basic user name; null for a Bearer value or an OAuth2 refresh token. */
  username: string | null;
  password: string;
}

/** Who the credentials belong to. */
export interface Principal {
  identity: Identity;
  /** Set for robot tokens: every use re-checks that the token is not revoked. */
  robotId?: string;
}

export interface SourceContext {
  env: Env;
  config: AuthConfig;
  /** The `service` tokens are issued for (refresh tokens must name it). */
  service: string;
}

export interface CredentialSource {
  /** For logs: which kind of credential matched. */
  readonly kind: string;
  resolve(credentials: PresentedCredentials, context: SourceContext): Promise<Principal | null>;
}

/** ADMIN_TOKEN (a secret), kept from before access control: a password with every grant. */
const adminTokenSource: CredentialSource = {
  kind: "admin token",
  async resolve({ password }, { config }) {
    if (config.adminToken === undefined) return null;
    const encoder = new TextEncoder();
    if (!timingSafeEqual(encoder.encode(password), encoder.encode(config.adminToken))) return null;
    return { identity: { kind: "user", name: "admin-token", grants: [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }] } };
  },
};

/**
 * A GitHub Actions OIDC ID token as the password (the login action sends `github-actions:<ID token>`).
 * Only tokens naming the configured issuer are this source's; a bad one is refused with the
 * verifier's own 401 (or 403 when no trust rule matches).
 */
const githubOidcSource: CredentialSource = {
  kind: "GitHub Actions OIDC",
  async resolve({ password }, { env }) {
    const config = parseOidcConfig(env);
    if (!config || !isOidcToken(password, config)) return null;
    return { identity: await identityFromOidcToken(password, config) };
  },
};

/** A refresh token Berth issued (POST /token with access_type=offline): re-resolved against today's configuration. */
const refreshTokenSource: CredentialSource = {
  kind: "refresh token",
  async resolve({ password }, context) {
    return readRefreshToken(password, context);
  },
};

// PBKDF2 costs ~100 ms of CPU; clients that send Basic credentials on every request (curl,
// scripts) would pay it each time. A successful verification is remembered for a minute,
// keyed by a SHA-256 of the credentials (never the password itself).
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 256;
const verified = new Map<string, number>();

async function credentialKey(username: string, password: string, salt: Uint8Array): Promise<string> {
  const bytes = new TextEncoder().encode(`${username}\u0000${password}\u0000${[...salt].join(",")}`);
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Users from AUTH_USERS, with PBKDF2 password hashes. */
const configUsersSource: CredentialSource = {
  kind: "user",
  async resolve({ username, password }, { config }) {
    if (username === null) return null;
    const user = config.users.get(username);
    if (!user) return null;
    const key = await credentialKey(username, password, user.hash.salt);
    const until = verified.get(key);
    if (until === undefined || until < Date.now()) {
      verified.delete(key);
      if (!(await verifyPassword(password, user.hash))) return null;
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
      verified.set(key, Date.now() + VERIFIED_TTL_MS);
    }
    return { identity: { kind: "user", name: user.name, grants: user.grants } };
  },
};

// Cheap, prefix-recognized sources first; the PBKDF2 users source last.
export const CREDENTIAL_SOURCES: readonly CredentialSource[] = [robotTokenSource, adminTokenSource, refreshTokenSource, githubOidcSource, configUsersSource];

/** The first source that recognizes the credentials; null when none does. */
export async function authenticate(credentials: PresentedCredentials, context: SourceContext): Promise<Principal | null> {
  if (credentials.password === "") return null;
  for (const source of CREDENTIAL_SOURCES) {
    const principal = await source.resolve(credentials, context);
    if (principal) return principal;
  }
  return null;
}
