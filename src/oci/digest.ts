import { OciError } from "../http/errors";

export type DigestAlgorithm = "sha256" | "sha512";

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_SHAPE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function looksLikeDigest(value: string): boolean {
  return value.includes(":");
}

/** Parses `algorithm:hex`; anything malformed or unsupported is DIGEST_INVALID (400). */
export function parseDigest(value: string): ParsedDigest {
  if (!DIGEST_SHAPE.test(value)) throw new OciError("DIGEST_INVALID", `invalid digest "${value}"`);
  const [algorithm, hex] = value.split(":", 2) as [string, string];
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new OciError("DIGEST_INVALID", `unsupported digest algorithm "${algorithm}"`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError("DIGEST_INVALID", `invalid ${algorithm} digest "${value}"`);
  }
  return { algorithm, hex, digest: value };
}

export function toHex(buffer: ArrayBuffer | Uint8Array): string {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

const SUBTLE_NAME: Record<DigestAlgorithm, string> = { sha256: "SHA-256", sha512: "SHA-512" };

export async function digestBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): Promise<string> {
  return `${algorithm}:${toHex(await crypto.subtle.digest(SUBTLE_NAME[algorithm], bytes))}`;
}

export function subtleName(algorithm: DigestAlgorithm): string {
  return SUBTLE_NAME[algorithm];
}
