// Issuing and reading Berth's tokens. An access token carries the scopes granted
// (distribution's `access` claim), the identity's name and kind, and — when the
// catalog scope was granted — the identity's grants, which filter listings. A
// refresh token carries only who it was issued to: each refresh re-reads that
// identity's grants from today's configuration (a removed user gets nothing).

import { z } from "zod";
import type { Identity } from "./identity";
import type { AuthConfig } from "./auth-config";
import type { Principal, SourceContext } from "./credentials";
import { GrantSchema } from "./grant-schema";
import { signJwt, signingKey, verifyJwt, looksLikeJwt, base64url, type SigningKey } from "./jwt";
import { toAccessEntry, type AccessEntry, type Scope } from "./scope";
import { robotPrincipal } from "./robot-tokens";

const ISSUER = "berth";
const REFRESH_TTL_SECONDS = 30 * 24 * 3600;
/** Tolerated clock difference between isolates. */
const SKEW_SECONDS = 30;

const ClaimsSchema = z.object({
  iss: z.literal(ISSUER),
  aud: z.string(),
  sub: z.string(),
  kind: z.enum(["anonymous", "user", "robot", "workflow"]),
  typ: z.enum(["access", "refresh"]),
  iat: z.number(),
  nbf: z.number(),
  exp: z.number(),
  jti: z.string(),
  access: z.array(z.object({ type: z.string(), name: z.string(), actions: z.array(z.string()) })).default([]),
  grants: z.array(GrantSchema).optional(),
  rob: z.string().optional(),
});

export type TokenClaims = z.infer<typeof ClaimsSchema>;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export async function currentKey(config: AuthConfig): Promise<SigningKey> {
  // loadAuthConfig refuses AUTH_MODE=required without a key; open mode signs with a per-isolate key.
  return signingKey(config.signingSecret ?? openModeSecret());
}

async function acceptedKeys(config: AuthConfig): Promise<SigningKey[]> {
  const keys = [await currentKey(config)];
  if (config.previousSigningSecret !== undefined) keys.push(await signingKey(config.previousSigningSecret));
  return keys;
}

let ephemeral: string | undefined;
function openModeSecret(): string {
  ephemeral ??= base64url(crypto.getRandomValues(new Uint8Array(32)));
  return ephemeral;
}

function baseClaims(identity: Identity, typ: "access" | "refresh", service: string, ttl: number, now: number) {
  return { iss: ISSUER as typeof ISSUER, aud: service, sub: identity.name, kind: identity.kind, typ, iat: now, nbf: now, exp: now + ttl, jti: base64url(crypto.getRandomValues(new Uint8Array(12))) };
}

export async function issueAccessToken(principal: Principal, granted: Scope[], context: SourceContext): Promise<IssuedToken> {
  const now = Math.floor(Date.now() / 1000);
  const ttl = context.config.tokenTtlSeconds;
  const access: AccessEntry[] = granted.map(toAccessEntry);
  const claims: TokenClaims = {
    ...baseClaims(principal.identity, "access", context.service, ttl, now),
    access,
    ...(granted.some((s) => s.type === "registry" && s.name === "catalog") ? { grants: principal.identity.grants } : {}),
    ...(principal.robotId !== undefined ? { rob: principal.robotId } : {}),
  };
  return { token: await signJwt(claims, await currentKey(context.config)), expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
}

export async function issueRefreshToken(principal: Principal, context: SourceContext): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...baseClaims(principal.identity, "refresh", context.service, REFRESH_TTL_SECONDS, now), ...(principal.robotId !== undefined ? { rob: principal.robotId } : {}) };
  return signJwt(claims, await currentKey(context.config));
}

/** Identities a refresh token can be re-read for: users (by name) and robots (by id). */
export function refreshable(principal: Principal): boolean {
  return principal.identity.kind === "user" || principal.robotId !== undefined;
}

async function readClaims(token: string, typ: "access" | "refresh", context: { config: AuthConfig; service: string }): Promise<TokenClaims | null> {
  if (!looksLikeJwt(token)) return null;
  const payload = await verifyJwt(token, await acceptedKeys(context.config));
  const parsed = ClaimsSchema.safeParse(payload);
  if (!parsed.success) return null;
  const claims = parsed.data;
  const now = Math.floor(Date.now() / 1000);
  if (claims.typ !== typ || claims.aud !== context.service) return null;
  if (claims.exp <= now - SKEW_SECONDS || claims.nbf > now + SKEW_SECONDS) return null;
  return claims;
}

/** The claims of a valid access token for this service; null for anything else (expired, forged, a refresh token…). */
export function readAccessToken(token: string, context: { config: AuthConfig; service: string }): Promise<TokenClaims | null> {
  return readClaims(token, "access", context);
}

export async function readRefreshToken(token: string, context: SourceContext): Promise<Principal | null> {
  const claims = await readClaims(token, "refresh", context);
  if (!claims) return null;
  if (claims.rob !== undefined) return robotPrincipal(context.env, claims.rob);
  if (claims.kind === "user") return configuredUser(context.config, claims.sub);
  return null;
}


/** Re-reads a user by name (refresh tokens): today's grants, or null when the user is gone. */
export function configuredUser(config: AuthConfig, name: string): Principal | null {
  const user = config.users.get(name);
  return user ? { identity: { kind: "user", name: user.name, grants: user.grants } } : null;
}
