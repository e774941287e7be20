// Test-side issuer keys and token signing with WebCrypto (the keys are generated in the test;
// the local issuer of test/oidc/local-issuer.mjs only serves their public halves).
import { inject } from "vitest";
import GITHUB_CLAIMS from "../oidc/github-claims.json";

declare module "vitest" {
  export interface ProvidedContext {
    oidcIssuer: { url: string };
  }
}

export interface TestKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicJwk: JsonWebKey & { kid: string };
}

const b64url = (bytes: Uint8Array | string) => {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return btoa(String.fromCharCode(...data)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

export async function rsaKey(kid: string): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return { kid, alg: "RS256", privateKey: pair.privateKey, publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: "RS256", use: "sig" } };
}

export async function ecKey(kid: string): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return { kid, alg: "ES256", privateKey: pair.privateKey, publicJwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, kid, use: "sig" } };
}

export function encode(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
}

export async function sign(key: TestKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const input = encode({ typ: "JWT", alg: key.alg, kid: key.kid, ...header }, payload);
  const algorithm = key.alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
  const signature = new Uint8Array(await crypto.subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(input)));
  return `${input}.${b64url(signature)}`;
}

/** The classic confusion attack: HS256 with the issuer's public key as the HMAC secret. */
export async function signHs256WithPublicKey(key: TestKey, payload: Record<string, unknown>): Promise<string> {
  const input = encode({ typ: "JWT", alg: "HS256", kid: key.kid }, payload);
  const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
  const hmac = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(input)));
  return `${input}.${b64url(signature)}`;
}

/** A fresh issuer on the local issuer server, serving `keys`. */
export async function localIssuer(name: string, keys: TestKey[]): Promise<string> {
  const issuer = `${inject("oidcIssuer").url}/issuers/${name}-${crypto.randomUUID().slice(0, 8)}`;
  await serveKeys(issuer, keys);
  return issuer;
}

export async function serveKeys(issuer: string, keys: TestKey[]): Promise<void> {
  const response = await fetch(`${issuer}/__jwks`, { method: "PUT", body: JSON.stringify({ keys: keys.map((k) => k.publicJwk) }) });
  if (!response.ok) throw new Error(`local issuer: PUT __jwks answered ${response.status}`);
}

export async function issuerStats(issuer: string): Promise<{ discovery: number; jwks: number }> {
  return (await (await fetch(`${issuer}/__stats`)).json()) as { discovery: number; jwks: number };
}

/** GitHub's claims for a push to main of berth-test/app, valid for an hour from `nowSeconds`. */
export function githubClaims(issuer: string, audience: string, nowSeconds: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: issuer,
    aud: audience,
    ...GITHUB_CLAIMS,
    jti: crypto.randomUUID(),
    nbf: nowSeconds - 300,
    iat: nowSeconds,
    exp: nowSeconds + 3600,
    ...overrides,
  };
}
