// A compact JWS (header.payload.signature) taken apart, and its signature checked against a
// JWK with WebCrypto. Only the asymmetric algorithms an OIDC issuer uses are accepted:
// RS256 (GitHub) and ES256. `none` and HMAC (HS*) are refused outright — with HMAC a verifier
// that trusted the header could be fooled into using a public key as a shared secret.

import { OciError } from "../http/errors";

/** Larger tokens are refused before any parsing (GitHub's are about 1–2 KB). */
export const MAX_TOKEN_BYTES = 16 * 1024;

export type JwsAlgorithm = "RS256" | "ES256";
const ALGORITHMS: readonly string[] = ["RS256", "ES256"];

export interface DecodedJwt {
  header: { alg: JwsAlgorithm; kid: string };
  payload: Record<string, unknown>;
  signingInput: Uint8Array;
  signature: Uint8Array;
}

/** The subset of an RFC 7517 JWK that verification reads. */
export interface Jwk {
  kty?: unknown;
  kid?: unknown;
  use?: unknown;
  alg?: unknown;
  n?: unknown;
  e?: unknown;
  crv?: unknown;
  x?: unknown;
  y?: unknown;
}

export function unauthorized(message: string): OciError {
  return new OciError("UNAUTHORIZED", `GitHub OIDC token rejected: ${message}`);
}

function base64UrlDecode(part: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw unauthorized("not a JWT (invalid base64url)");
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (part.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    throw unauthorized("not a JWT (invalid base64url)");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function jsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(base64UrlDecode(part)));
  } catch (error) {
    if (error instanceof OciError) throw error;
    throw unauthorized(`not a JWT (${what} is not JSON)`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw unauthorized(`not a JWT (${what} is not an object)`);
  return value as Record<string, unknown>;
}

/** The payload without checking anything: only for routing (is this an OIDC token?). */
export function unverifiedPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.length <= MAX_TOKEN_BYTES ? token.split(".") : [];
  if (parts.length !== 3) return undefined;
  try {
    return jsonObject(parts[1]!, "payload");
  } catch {
    return undefined;
  }
}

/** Splits and parses a JWS; throws UNAUTHORIZED for anything but a well-formed RS256/ES256 token with a kid. */
export function decodeJwt(token: string): DecodedJwt {
  if (token.length > MAX_TOKEN_BYTES) throw unauthorized(`longer than ${MAX_TOKEN_BYTES} bytes`);
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthorized("not a JWT (expected header.payload.signature)");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonObject(headerPart, "header");
  const alg = header.alg;
  if (typeof alg !== "string" || !ALGORITHMS.includes(alg)) {
    throw unauthorized(`algorithm ${JSON.stringify(alg ?? null)} is not accepted (only ${ALGORITHMS.join(", ")})`);
  }
  if (header.crit !== undefined) throw unauthorized("critical header parameters are not supported");
  if (typeof header.kid !== "string" || header.kid === "") throw unauthorized("the header names no key (kid)");
  return {
    header: { alg: alg as JwsAlgorithm, kid: header.kid },
    payload: jsonObject(payloadPart, "payload"),
    signingInput: new TextEncoder().encode(`${headerPart}.${payloadPart}`),
    signature: base64UrlDecode(signaturePart),
  };
}

interface KeyAlgorithm {
  importAs: SubtleCryptoImportKeyAlgorithm;
  verifyAs: SubtleCryptoSignAlgorithm;
}

/** How a JWK is imported and used for `alg`, or why it cannot be. */
function keyAlgorithm(jwk: Jwk, alg: JwsAlgorithm): KeyAlgorithm | string {
  if (jwk.use !== undefined && jwk.use !== "sig") return `key use is ${JSON.stringify(jwk.use)}, not "sig"`;
  if (jwk.alg !== undefined && jwk.alg !== alg) return `the key is for ${JSON.stringify(jwk.alg)}, the token says ${alg}`;
  if (alg === "RS256") {
    if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") return "the token says RS256 but the key is not an RSA key";
    // Fewer than 2048 bits is not a key an issuer should use.
    if (jwk.n.replace(/=+$/, "").length < 342) return "the RSA key is shorter than 2048 bits";
    return { importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, verifyAs: { name: "RSASSA-PKCS1-v1_5" } };
  }
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    return "the token says ES256 but the key is not a P-256 EC key";
  }
  return { importAs: { name: "ECDSA", namedCurve: "P-256" }, verifyAs: { name: "ECDSA", hash: "SHA-256" } };
}

/** Checks the signature; throws UNAUTHORIZED when the key does not fit the algorithm or the signature is wrong. */
export async function verifySignature(jwt: DecodedJwt, jwk: Jwk): Promise<void> {
  const algorithm = keyAlgorithm(jwk, jwt.header.alg);
  if (typeof algorithm === "string") throw unauthorized(algorithm);
  // JOSE ES256 signatures are raw r||s (64 bytes), which is what WebCrypto's ECDSA verify takes.
  if (jwt.header.alg === "ES256" && jwt.signature.byteLength !== 64) throw unauthorized("invalid signature");
  let key: CryptoKey;
  try {
    // Only the public parameters: nothing else a JWK carries (use, alg, key_ops…) is trusted here.
    const { n, e, crv, x, y } = jwk as Record<string, string>;
    const material: JsonWebKey = jwt.header.alg === "RS256" ? { kty: "RSA", n, e } : { kty: "EC", crv, x, y };
    key = await crypto.subtle.importKey("jwk", material, algorithm.importAs, false, ["verify"]);
  } catch {
    throw unauthorized(`the issuer's key ${jwt.header.kid} cannot be imported`);
  }
  const valid = await crypto.subtle.verify(algorithm.verifyAs, key, jwt.signature, jwt.signingInput);
  if (!valid) throw unauthorized("invalid signature");
}
