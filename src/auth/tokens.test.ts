// Token issue and verification: signatures, kid, expiry, audience, type, rotation, and tampering.
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:test";
import { loadAuthConfig } from "./auth-config";
import type { SourceContext } from "./credentials";
import { base64url, signJwt, signingKey, verifyJwt } from "./jwt";
import { hashPassword, parsePasswordHash, verifyPassword } from "./password";
import { issueAccessToken, issueRefreshToken, readAccessToken, readRefreshToken } from "./tokens";

const KEY = "k".repeat(40);
const OTHER = "o".repeat(40);

function context(vars: Record<string, string>): SourceContext {
  const merged = { ...env, AUTH_MODE: "required", ...vars } as unknown as Env;
  return { env: merged, config: loadAuthConfig(merged), service: "registry.test" };
}

const alice = { identity: { kind: "user" as const, name: "alice", grants: [{ repositories: "a/**", actions: ["pull" as const] }] } };
const scope = [{ type: "repository" as const, name: "a/b", actions: ["pull" as const] }];

function encode(value: unknown): string {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

describe("access tokens", () => {
  it("round-trip: the claims carry the identity and the granted access", async () => {
    const ctx = context({ TOKEN_SIGNING_KEY: KEY });
    const { token, expiresIn } = await issueAccessToken(alice, scope, ctx);
    expect(expiresIn).toBe(300);
    const claims = await readAccessToken(token, ctx);
    expect(claims).toMatchObject({ sub: "alice", kind: "user", aud: "registry.test", typ: "access", access: [{ type: "repository", name: "a/b", actions: ["pull"] }] });
    expect(claims?.grants).toBeUndefined();
  });

  it("rotation: a token signed with the previous key verifies while TOKEN_SIGNING_KEY_PREVIOUS names it", async () => {
    const old = context({ TOKEN_SIGNING_KEY: OTHER });
    const { token } = await issueAccessToken(alice, scope, old);
    expect(await readAccessToken(token, context({ TOKEN_SIGNING_KEY: KEY, TOKEN_SIGNING_KEY_PREVIOUS: OTHER }))).not.toBeNull();
    expect(await readAccessToken(token, context({ TOKEN_SIGNING_KEY: KEY }))).toBeNull();
  });

  it.each([
    ["another service", async (token: string) => ({ token, ctx: { ...context({ TOKEN_SIGNING_KEY: KEY }), service: "elsewhere" } })],
    ["a flipped signature byte", async (token: string) => ({ token: token.slice(0, -2) + (token.at(-2) === "A" ? "B" : "A") + token.at(-1), ctx: context({ TOKEN_SIGNING_KEY: KEY }) })],
    ["a changed payload", async (token: string) => {
      const [h, , s] = token.split(".");
      const payload = { iss: "berth", aud: "registry.test", sub: "alice", kind: "user", typ: "access", iat: 0, nbf: 0, exp: 9e9, jti: "x", access: [{ type: "repository", name: "**", actions: ["push"] }] };
      return { token: `${h}.${encode(payload)}.${s}`, ctx: context({ TOKEN_SIGNING_KEY: KEY }) };
    }],
    ["alg none", async (token: string) => {
      const [, p] = token.split(".");
      return { token: `${encode({ alg: "none", typ: "JWT" })}.${p}.`, ctx: context({ TOKEN_SIGNING_KEY: KEY }) };
    }],
    ["not a JWT", async () => ({ token: "hello", ctx: context({ TOKEN_SIGNING_KEY: KEY }) })],
  ])("rejects %s", async (_label, tamper) => {
    const { token } = await issueAccessToken(alice, scope, context({ TOKEN_SIGNING_KEY: KEY }));
    const { token: bad, ctx } = await tamper(token);
    expect(await readAccessToken(bad, ctx)).toBeNull();
  });

  it.each([
    ["expired", { exp: -100 }],
    ["not yet valid", { nbf: 3600 }],
    ["another issuer", { iss: "someone" }],
    ["a refresh token used as an access token", { typ: "refresh" }],
  ])("rejects a correctly signed token that is %s", async (_label, change) => {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { iss: "berth", aud: "registry.test", sub: "alice", kind: "user", typ: "access", iat: now, nbf: now, exp: now + 60, jti: "j", access: [] };
    for (const [key, value] of Object.entries(change)) claims[key] = typeof value === "number" && key !== "iss" ? now + value : value;
    const token = await signJwt(claims, await signingKey(KEY));
    expect(await verifyJwt(token, [await signingKey(KEY)])).not.toBeNull();
    expect(await readAccessToken(token, context({ TOKEN_SIGNING_KEY: KEY }))).toBeNull();
  });

  it("refresh tokens re-read the user from today's configuration", async () => {
    const hash = await hashPassword("a long password", 10_000);
    const users = JSON.stringify([{ name: "alice", passwordHash: hash, grants: [{ repositories: "x/**", actions: ["pull"] }] }]);
    const ctx = context({ TOKEN_SIGNING_KEY: KEY, AUTH_USERS: users });
    const refresh = await issueRefreshToken(alice, ctx);
    expect((await readRefreshToken(refresh, ctx))?.identity.grants).toEqual([{ repositories: "x/**", actions: ["pull"] }]);
    expect(await readRefreshToken(refresh, context({ TOKEN_SIGNING_KEY: KEY }))).toBeNull();
    const { token } = await issueAccessToken(alice, scope, ctx);
    expect(await readRefreshToken(token, ctx)).toBeNull();
  });
});

describe("password hashes", () => {
  it("verify the right password only", async () => {
    const stored = parsePasswordHash(await hashPassword("correct horse", 10_000))!;
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct horsE", stored)).toBe(false);
  });
  it.each([
    ["plain text", "hunter2"],
    ["too many iterations (Workers refuse more than 100000)", "pbkdf2-sha256$200000$c2FsdHNhbHQ=$" + "A".repeat(43) + "="],
    ["too few iterations", "pbkdf2-sha256$1000$c2FsdHNhbHQ=$" + "A".repeat(43) + "="],
    ["a short hash", "pbkdf2-sha256$100000$c2FsdHNhbHQ=$AAAA"],
    ["another algorithm", "bcrypt$100000$c2FsdHNhbHQ=$" + "A".repeat(43) + "="],
  ])("refuses %s", (_label, stored) => {
    expect(parsePasswordHash(stored)).toBeNull();
  });
});
