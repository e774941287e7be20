// Berth's own tokens: compact JWS with HMAC-SHA256 (WebCrypto), the key from the
// TOKEN_SIGNING_KEY secret. The header's `kid` names the key (a hash prefix of it),
// so during a rotation tokens signed with TOKEN_SIGNING_KEY_PREVIOUS still verify
// until they expire. Only HS256 with a known kid is accepted: `alg: none`, other
// algorithms and unknown keys fail.

const ENCODER = new TextEncoder();

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

const imported = new Map<string, Promise<SigningKey>>();

/** Imports a secret as an HMAC key; cached per isolate (keys are few). */
export function signingKey(secret: string): Promise<SigningKey> {
  let key = imported.get(secret);
  if (!key) {
    key = (async () => {
      const bytes = ENCODER.encode(secret);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const kid = base64url(digest).slice(0, 16);
      return { kid, key: await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]) };
    })();
    imported.set(secret, key);
  }
  return key;
}

export async function signJwt(payload: object, key: SigningKey): Promise<string> {
  const header = base64url(ENCODER.encode(JSON.stringify({ alg: "HS256", typ: "JWT", kid: key.kid })));
  const body = base64url(ENCODER.encode(JSON.stringify(payload)));
  const signature = await crypto.subtle.sign("HMAC", key.key, ENCODER.encode(`${header}.${body}`));
  return `${header}.${body}.${base64url(new Uint8Array(signature))}`;
}

/** The payload when the signature verifies with one of `keys`; null otherwise. Claims are the caller's to check. */
export async function verifyJwt(token: string, keys: readonly SigningKey[]): Promise<unknown> {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const [header, body, signature] = parts as [string, string, string];
  const parsedHeader = parseJson(header);
  if (!isRecord(parsedHeader) || parsedHeader["alg"] !== "HS256" || typeof parsedHeader["kid"] !== "string") return null;
  const key = keys.find((k) => k.kid === parsedHeader["kid"]);
  const signatureBytes = fromBase64url(signature);
  if (!key || !signatureBytes) return null;
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", key.key, signatureBytes, ENCODER.encode(`${header}.${body}`));
  return valid ? parseJson(body) : null;
}

/** True when the string has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | null {
  try {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function parseJson(part: string): unknown {
  const bytes = fromBase64url(part);
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
