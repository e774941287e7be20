// GitHub Actions OIDC token verification against a local issuer: keys generated here with
// WebCrypto, discovery and JWKS served on loopback by test/oidc/local-issuer.mjs (vitest
// globalSetup), so the real fetch path (discovery → jwks_uri → cache) is exercised.
import { beforeAll, describe, expect, it } from "vitest";
import { identityFromOidcToken, isOidcToken, parseOidcConfig, type OidcConfig } from "../../src/auth/github-oidc";
import { JwksCache, JWKS_TTL_MS, REFETCH_INTERVAL_MS } from "../../src/auth/oidc-jwks";
import { OciError } from "../../src/http/errors";
import { ecKey, encode, githubClaims, issuerStats, localIssuer, rsaKey, serveKeys, sign, signHs256WithPublicKey, type TestKey } from "./oidc-keys";

const AUDIENCE = "https://berth.test";
const NOW_MS = Date.UTC(2026, 10, 30, 4, 0, 0);
const NOW = NOW_MS / 1000;
const GRANTS = [{ repositories: "berth-test/app/**", actions: ["pull", "push"] }];

function configFor(issuer: string): OidcConfig {
  const config = parseOidcConfig({
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_TRUST: JSON.stringify([
      { repository: "berth-test/app", repositoryId: "123456", repositoryOwnerId: "654321", ref: "refs/heads/main", grants: GRANTS },
    ]),
  });
  if (!config) throw new Error("OIDC config expected");
  return config;
}

/** The OciError code and message a verification ends with, or the identity. */
async function outcome(token: string, config: OidcConfig, deps: Parameters<typeof identityFromOidcToken>[2] = {}) {
  try {
    return { identity: await identityFromOidcToken(token, config, { now: () => NOW_MS, keys: new JwksCache(), ...deps }) };
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    return { code: error.code, status: error.status, message: error.message };
  }
}

describe("identityFromOidcToken", () => {
  let rsa: TestKey;
  let ec: TestKey;
  let attacker: TestKey;
  let issuer: string;
  let otherIssuer: string;
  let config: OidcConfig;

  beforeAll(async () => {
    rsa = await rsaKey("github-rsa");
    ec = await ecKey("github-ec");
    attacker = await rsaKey("github-rsa"); // same kid, different key
    issuer = await localIssuer("main", [rsa, ec]);
    otherIssuer = await localIssuer("other", [rsa]);
    config = configFor(issuer);
  });

  const claims = (overrides: Record<string, unknown> = {}) => githubClaims(issuer, AUDIENCE, NOW, overrides);

  type Case = [name: string, token: () => Promise<string>, expected: { code: string; message: RegExp } | "granted"];
  const cases: Case[] = [
    ["a valid RS256 token", () => sign(rsa, claims()), "granted"],
    ["a valid ES256 token", () => sign(ec, claims()), "granted"],
    ["an audience list that contains Berth's", () => sign(rsa, claims({ aud: ["https://other.example", AUDIENCE] })), "granted"],
    ["expired less than the clock skew ago", () => sign(rsa, claims({ exp: NOW - 30 })), "granted"],
    ["the wrong audience (GitHub's default)", () => sign(rsa, claims({ aud: "https://github.com/berth-test" })), { code: "UNAUTHORIZED", message: /audience "https:\/\/github.com\/berth-test" is not https:\/\/berth.test/ }],
    ["no audience", () => sign(rsa, claims({ aud: undefined })), { code: "UNAUTHORIZED", message: /audience null/ }],
    ["expired", () => sign(rsa, claims({ exp: NOW - 120 })), { code: "UNAUTHORIZED", message: /expired at/ }],
    ["no expiry", () => sign(rsa, claims({ exp: undefined })), { code: "UNAUTHORIZED", message: /no expiry/ }],
    ["not yet valid", () => sign(rsa, claims({ nbf: NOW + 300 })), { code: "UNAUTHORIZED", message: /not valid yet/ }],
    ["issued in the future", () => sign(rsa, claims({ iat: NOW + 300, nbf: undefined })), { code: "UNAUTHORIZED", message: /issued in the future/ }],
    ["another repository of the same name (re-created: new id)", () => sign(rsa, claims({ repository_id: "999999" })), { code: "DENIED", message: /no OIDC trust rule matches github:berth-test\/app@refs\/heads\/main \(repository_id 999999/ }],
    ["another owner of the same name (new owner id)", () => sign(rsa, claims({ repository_owner_id: "1" })), { code: "DENIED", message: /no OIDC trust rule matches/ }],
    ["another repository", () => sign(rsa, claims({ repository: "berth-test/other", repository_id: "222" })), { code: "DENIED", message: /github:berth-test\/other@refs\/heads\/main/ }],
    ["another branch", () => sign(rsa, claims({ ref: "refs/heads/feature" })), { code: "DENIED", message: /github:berth-test\/app@refs\/heads\/feature/ }],
    ["a forged signature (another key, same kid)", () => sign(attacker, claims()), { code: "UNAUTHORIZED", message: /invalid signature/ }],
    [
      "claims changed after signing",
      async () => {
        const [header, , signature] = (await sign(rsa, claims())).split(".");
        const forged = encode({}, claims({ repository_id: "1" })).split(".")[1];
        return `${header}.${forged}.${signature}`;
      },
      { code: "UNAUTHORIZED", message: /invalid signature/ },
    ],
    ["alg none", async () => `${encode({ typ: "JWT", alg: "none", kid: rsa.kid }, claims())}.`, { code: "UNAUTHORIZED", message: /algorithm "none" is not accepted/ }],
    ["HS256 with the public key as the secret", () => signHs256WithPublicKey(rsa, claims()), { code: "UNAUTHORIZED", message: /algorithm "HS256" is not accepted/ }],
    ["RS384", () => sign(rsa, claims(), { alg: "RS384" }), { code: "UNAUTHORIZED", message: /algorithm "RS384" is not accepted/ }],
    ["an alg that does not fit the key (ES256 header, RSA key)", () => sign(ec, claims(), { kid: rsa.kid }), { code: "UNAUTHORIZED", message: /is for "RS256", the token says ES256/ }],
    ["an alg that does not fit the key (RS256 header, EC key)", () => sign(rsa, claims(), { kid: ec.kid }), { code: "UNAUTHORIZED", message: /the token says RS256 but the key is not an RSA key/ }],
    ["a kid the issuer does not publish", () => sign(rsa, claims(), { kid: "nobody" }), { code: "UNAUTHORIZED", message: /publishes no key "nobody"/ }],
    ["no kid", () => sign(rsa, claims(), { kid: undefined }), { code: "UNAUTHORIZED", message: /names no key/ }],
    ["critical header parameters", () => sign(rsa, claims(), { crit: ["exp"] }), { code: "UNAUTHORIZED", message: /critical header/ }],
    ["another issuer (signed by a key that issuer publishes)", () => sign(rsa, githubClaims(otherIssuer, AUDIENCE, NOW)), { code: "UNAUTHORIZED", message: /issuer ".*\/other-.*" is not the configured issuer/ }],
    ["an issuer URL with a trailing slash", () => sign(rsa, claims({ iss: `${issuer}/` })), { code: "UNAUTHORIZED", message: /is not the configured issuer/ }],
    ["a token without GitHub's claims", () => sign(rsa, claims({ repository_id: undefined })), { code: "UNAUTHORIZED", message: /claim repository_id is missing/ }],
    ["not a JWT", async () => "not-a-token", { code: "UNAUTHORIZED", message: /not a JWT/ }],
    ["a JWT whose header is not JSON", async () => "bm90IGpzb24.e30.c2ln", { code: "UNAUTHORIZED", message: /header is not JSON/ }],
    ["an oversized token", async () => `${"a".repeat(17 * 1024)}.b.c`, { code: "UNAUTHORIZED", message: /longer than/ }],
  ];

  it.each(cases)("%s", async (_name, token, expected) => {
    const result = await outcome(await token(), config);
    if (expected === "granted") {
      expect(result).toEqual({ identity: { kind: "workflow", name: "github:berth-test/app@refs/heads/main", grants: GRANTS } });
    } else {
      expect(result).toMatchObject({ code: expected.code, status: expected.code === "DENIED" ? 403 : 401 });
      expect((result as { message: string }).message).toMatch(expected.message);
    }
  });

  it("never asks the issuer for keys when the claims already rule a token out", async () => {
    const quiet = await localIssuer("quiet", [rsa]);
    const quietConfig = configFor(quiet);
    for (const overrides of [{ aud: "https://elsewhere" }, { exp: NOW - 3600 }, { iss: otherIssuer }]) {
      expect(await outcome(await sign(rsa, githubClaims(quiet, AUDIENCE, NOW, overrides)), quietConfig)).toMatchObject({ code: "UNAUTHORIZED" });
    }
    expect(await issuerStats(quiet)).toEqual({ discovery: 0, jwks: 0 });
  });

  it("accepts an ID token signed by the local issuer's own key in Node (another implementation)", async () => {
    const nodeIssuer = `${issuer.replace(/\/issuers\/.*$/, "")}/issuers/node-${crypto.randomUUID().slice(0, 8)}`;
    const response = await fetch(`${nodeIssuer}/actions-token?audience=${encodeURIComponent(AUDIENCE)}`, { headers: { Authorization: "Bearer local-actions-request-token" } });
    const { value } = (await response.json()) as { value: string };
    // The local issuer stamps the token with the real clock, so verify it against the real clock.
    expect(await outcome(value, configFor(nodeIssuer), { now: () => Date.now() })).toEqual({ identity: { kind: "workflow", name: "github:berth-test/app@refs/heads/main", grants: GRANTS } });
  });
});

describe("the issuer's keys", () => {
  it("are fetched once, cached, and fetched again after the TTL", async () => {
    const key = await rsaKey("k1");
    const issuer = await localIssuer("cache", [key]);
    const config = configFor(issuer);
    const keys = new JwksCache();
    const token = await sign(key, githubClaims(issuer, AUDIENCE, NOW));
    for (let i = 0; i < 3; i++) expect(await outcome(token, config, { keys })).toHaveProperty("identity");
    expect(await issuerStats(issuer)).toEqual({ discovery: 1, jwks: 1 });
    expect(await outcome(token, config, { keys, now: () => NOW_MS + JWKS_TTL_MS + 1000 })).toHaveProperty("identity");
    expect(await issuerStats(issuer)).toEqual({ discovery: 2, jwks: 2 });
  });

  it("an unknown kid refetches once (key rotation); more unknown kids wait for the rate limit", async () => {
    const before = await rsaKey("before");
    const after = await ecKey("after");
    const issuer = await localIssuer("rotate", [before]);
    const config = configFor(issuer);
    const keys = new JwksCache();
    const claims = githubClaims(issuer, AUDIENCE, NOW);
    expect(await outcome(await sign(before, claims), config, { keys })).toHaveProperty("identity");
    expect((await issuerStats(issuer)).jwks).toBe(1);

    // The issuer rotates: the new key is only known after a refetch.
    await serveKeys(issuer, [before, after]);
    const later = NOW_MS + REFETCH_INTERVAL_MS + 1000;
    expect(await outcome(await sign(after, claims), config, { keys, now: () => later })).toHaveProperty("identity");
    expect((await issuerStats(issuer)).jwks).toBe(2);

    // Made-up kids right after: no fetch, rejected.
    for (const kid of ["x1", "x2", "x3"]) {
      expect(await outcome(await sign(after, claims, { kid }), config, { keys, now: () => later + 1000 })).toMatchObject({ code: "UNAUTHORIZED", message: /publishes no key/ });
    }
    expect((await issuerStats(issuer)).jwks).toBe(2);
    // Once the interval has passed, one more refetch.
    expect(await outcome(await sign(after, claims, { kid: "x4" }), config, { keys, now: () => later + REFETCH_INTERVAL_MS + 1000 })).toMatchObject({ code: "UNAUTHORIZED" });
    expect((await issuerStats(issuer)).jwks).toBe(3);
  });

  it("keys fetched earlier keep working while the issuer is down; without them the answer is 503", async () => {
    const key = await rsaKey("k1");
    const issuer = await localIssuer("down", [key]);
    const config = configFor(issuer);
    const keys = new JwksCache();
    const token = await sign(key, githubClaims(issuer, AUDIENCE, NOW));
    const down: typeof fetch = async () => {
      throw new TypeError("connection refused");
    };
    expect(await outcome(token, config, { keys, fetch: down })).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 503, message: /connection refused/ });
    const fresh = new JwksCache();
    expect(await outcome(token, config, { keys: fresh })).toHaveProperty("identity");
    expect(await outcome(token, config, { keys: fresh, fetch: down, now: () => NOW_MS + JWKS_TTL_MS + 1000 })).toHaveProperty("identity");
  });

  it("refuses a discovery document that names another issuer or sends keys elsewhere", async () => {
    const key = await rsaKey("k1");
    const issuer = await localIssuer("discovery", [key]);
    const config = configFor(issuer);
    const token = await sign(key, githubClaims(issuer, AUDIENCE, NOW));
    const serving = (document: Record<string, unknown>): typeof fetch => async (input) =>
      String(input).endsWith("/openid-configuration") ? Response.json(document) : fetch(input);
    expect(await outcome(token, config, { fetch: serving({ issuer: "https://evil.example", jwks_uri: `${issuer}/.well-known/jwks` }) })).toMatchObject({
      code: "UPSTREAM_UNAVAILABLE",
      message: /names issuer "https:\/\/evil.example"/,
    });
    expect(await outcome(token, config, { fetch: serving({ issuer, jwks_uri: "https://evil.example/jwks" }) })).toMatchObject({
      code: "UPSTREAM_UNAVAILABLE",
      message: /is not on the issuer's origin/,
    });
  });
});

describe("isOidcToken", () => {
  it("is true only for a JWT naming the configured issuer", async () => {
    const key = await rsaKey("k1");
    const issuer = "https://token.actions.githubusercontent.com";
    const config = configFor(issuer);
    expect(isOidcToken(await sign(key, githubClaims(issuer, AUDIENCE, NOW)), config)).toBe(true);
    expect(isOidcToken(await sign(key, githubClaims("https://berth.test", AUDIENCE, NOW)), config)).toBe(false);
    expect(isOidcToken(encode({ alg: "none" }, { iss: issuer }) + ".", config)).toBe(true); // routing only: verification rejects it
    for (const token of ["", "password", "a.b.c", "a.b", `${encode({}, { iss: issuer })}.x.y`]) expect(isOidcToken(token, config)).toBe(false);
  });
});
