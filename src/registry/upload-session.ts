import { ResumableSha256, type Sha256State } from "../oci/sha256-resumable";

/**
 * Where an upload stands between requests. Bytes [0, offset) have been
 * received: the first `parts.length * PART_SIZE` of them are parts of an R2
 * multipart upload, the rest sit in a small "tail" object until a later chunk
 * fills a whole part (R2 needs equal-size parts except the last).
 */
export interface UploadSession {
  id: string;
  offset: number;
  /** Resumable SHA-256 of bytes [0, offset); absent when they were not hashed resumably (see upload-hash.ts). */
  sha256?: Sha256State;
  /** SHA-256 (hex) of bytes [0, offset) when one request sent them all and hashed them natively. */
  wholeSha256?: string;
  multipartKey?: string;
  multipartId?: string;
  parts: { partNumber: number; etag: string }[];
  /** R2 key of the tail object; its size is offset - parts.length * PART_SIZE. */
  tailKey?: string;
}

/** Every multipart part but the last has this size (R2 minimum is 5 MiB). */
export const PART_SIZE = 8 * 1024 * 1024;

/** Advertised to clients; a PATCH may carry anything up to the platform's body limit. */
export const CHUNK_MIN_LENGTH = 0;

export function tailSize(session: UploadSession): number {
  return session.offset - session.parts.length * PART_SIZE;
}

export function uploadPrefix(id: string): string {
  return `uploads/${id}/`;
}

/** A session with nothing received yet. */
export function newUploadSession(): UploadSession {
  return { id: crypto.randomUUID(), offset: 0, sha256: new ResumableSha256().save(), parts: [] };
}
