// Password hashes: PBKDF2-HMAC-SHA256 through WebCrypto, stored as
//   pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>
// 100 000 iterations is the most Cloudflare Workers allow (workerd refuses more,
// cloudflare/workerd#1346); verification refuses stored hashes above it rather than
// let a configuration ask for unbounded work. `npm run hash-password` produces one.

export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;
const FORMAT = /^pbkdf2-sha256\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

export interface ParsedHash {
  iterations: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

/** Parses a stored hash; null (with no detail: it may be a mistyped secret) when malformed. */
export function parsePasswordHash(stored: string): ParsedHash | null {
  const match = FORMAT.exec(stored.trim());
  if (!match) return null;
  const iterations = Number(match[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 10_000 || iterations > PBKDF2_ITERATIONS) return null;
  const salt = fromBase64(match[2]!);
  const hash = fromBase64(match[3]!);
  if (!salt || !hash || salt.byteLength < 8 || hash.byteLength !== HASH_BITS / 8) return null;
  return { iterations, salt, hash };
}

export async function hashPassword(password: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** Constant-time comparison of the derived hash with the stored one. */
export async function verifyPassword(password: string, stored: ParsedHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.iterations);
  return timingSafeEqual(derived, stored.hash);
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let difference = 0;
  for (let i = 0; i < a.byteLength; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, HASH_BITS);
  return new Uint8Array(bits);
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
