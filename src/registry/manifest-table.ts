// Manifest rows of one repository: bytes (chunked, since a SQLite value in a
// Durable Object is capped at 2 MB), what each manifest references, and the
// per-blob reference counts those references imply.

import { fail, ok, type Result } from "../http/errors";
import { markReferenced, markUnreferenced } from "./blob-release";
import type { ManifestInfo } from "./repository";

const CHUNK_BYTES = 1024 * 1024;
/** Annotations larger than this are read back from the manifest bytes instead of a column. */
const MAX_INLINE_ANNOTATIONS = 256 * 1024;
const ANNOTATIONS_IN_BODY = "@body";

/** A descriptor as the Durable Object checks it. */
export interface Reference {
  digest: string;
  size: number;
}

/** What the Worker hands to the Durable Object after parsing and hashing a manifest. */
export interface ManifestWrite {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
  blobs: Reference[];
  manifests: Reference[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export type ManifestRow = {
  digest: string;
  media_type: string;
  size: number;
  subject: string | null;
  artifact_type: string | null;
  annotations: string | null;
  created_at: number;
  last_pulled_at: number | null;
};

export function toInfo(row: ManifestRow): ManifestInfo {
  return { digest: row.digest, mediaType: row.media_type, size: row.size, subject: row.subject ?? undefined };
}

export function findManifest(sql: SqlStorage, digest: string): ManifestRow | undefined {
  return sql.exec<ManifestRow>("SELECT * FROM manifests WHERE digest = ?", digest).toArray()[0];
}

export function readManifestBytes(sql: SqlStorage, digest: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const row of sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM manifest_chunks WHERE digest = ? ORDER BY seq", digest)) {
    const chunk = new Uint8Array(row.bytes);
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Every blob and child manifest must be here, with the size its descriptor
 * declares: a false size would be what resolve, the UI and clients that trust
 * descriptors report and allocate.
 */
export function checkReferences(sql: SqlStorage, write: ManifestWrite): Result<void> {
  const missing: string[] = [];
  const wrong: { digest: string; declared: number; stored: number }[] = [];
  const check = (reference: Reference, stored: number | undefined) => {
    if (stored === undefined) missing.push(reference.digest);
    else if (stored !== reference.size) wrong.push({ digest: reference.digest, declared: reference.size, stored });
  };
  for (const blob of distinct(write.blobs)) check(blob, sql.exec<{ size: number }>("SELECT size FROM blobs WHERE digest = ?", blob.digest).toArray()[0]?.size);
  for (const child of distinct(write.manifests)) check(child, findManifest(sql, child.digest)?.size);
  if (missing.length > 0) return fail("MANIFEST_BLOB_UNKNOWN", `manifest references unknown blob or manifest ${missing[0]}`, { missing });
  const first = wrong[0];
  if (first) {
    return fail("MANIFEST_INVALID", `the descriptor of ${first.digest} declares size ${first.declared}, but it is ${first.stored} bytes`, { descriptors: wrong });
  }
  return ok(undefined);
}

function distinct(references: readonly Reference[]): Reference[] {
  return [...new Map(references.map((r) => [r.digest, r])).values()];
}

/** Inserts a manifest that is not yet stored and counts its references. */
export function insertManifest(sql: SqlStorage, write: ManifestWrite, now: number): void {
  sql.exec(
    "INSERT INTO manifests (digest, media_type, size, subject, artifact_type, annotations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    write.digest,
    write.mediaType,
    write.bytes.length,
    write.subject ?? null,
    write.artifactType ?? null,
    inlineAnnotations(write.annotations),
    now,
  );
  for (let seq = 0; seq * CHUNK_BYTES < write.bytes.length || seq === 0; seq++) {
    const chunk = write.bytes.slice(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES);
    sql.exec("INSERT INTO manifest_chunks (digest, seq, bytes) VALUES (?, ?, ?)", write.digest, seq, chunk);
    if (chunk.length < CHUNK_BYTES) break;
  }
  for (const { digest: blob } of distinct(write.blobs)) {
    sql.exec("INSERT INTO manifest_refs (parent, child, kind) VALUES (?, ?, 'blob')", write.digest, blob);
    sql.exec("UPDATE blobs SET refcount = refcount + 1 WHERE digest = ?", blob);
    markReferenced(sql, blob);
  }
  for (const { digest: child } of distinct(write.manifests)) {
    sql.exec("INSERT INTO manifest_refs (parent, child, kind) VALUES (?, ?, 'manifest')", write.digest, child);
  }
}

/** Indexes in this repository that list `digest` as a child. */
export function parentIndexes(sql: SqlStorage, digest: string): string[] {
  return sql
    .exec<{ parent: string }>("SELECT parent FROM manifest_refs WHERE child = ? AND kind = 'manifest'", digest)
    .toArray()
    .map((r) => r.parent);
}

/**
 * Removes a manifest, its bytes and its references; blob counts drop with
 * them, and a blob whose count reaches 0 starts its grace window (blob-release.ts).
 */
export function removeManifest(sql: SqlStorage, digest: string): Result<void> {
  const parents = parentIndexes(sql, digest);
  if (parents.length > 0) {
    return fail("DENIED", `manifest ${digest} is part of index ${parents[0]}; delete the index first`, { indexes: parents }, 409);
  }
  const blobs = sql.exec<{ child: string }>("SELECT child FROM manifest_refs WHERE parent = ? AND kind = 'blob'", digest).toArray().map((r) => r.child);
  for (const blob of blobs) {
    sql.exec("UPDATE blobs SET refcount = refcount - 1 WHERE digest = ? AND refcount > 0", blob);
  }
  markUnreferenced(sql, blobs, Date.now());
  sql.exec("DELETE FROM manifest_refs WHERE parent = ?", digest);
  sql.exec("DELETE FROM manifest_chunks WHERE digest = ?", digest);
  sql.exec("DELETE FROM manifests WHERE digest = ?", digest);
  return ok(undefined);
}

function inlineAnnotations(annotations: Record<string, string> | undefined): string | null {
  if (!annotations) return null;
  const json = JSON.stringify(annotations);
  return json.length <= MAX_INLINE_ANNOTATIONS ? json : ANNOTATIONS_IN_BODY;
}

/** The annotations a referrers response lists for a manifest row. */
export function annotationsOf(sql: SqlStorage, row: Pick<ManifestRow, "digest" | "size" | "annotations">): Record<string, string> | undefined {
  if (row.annotations === null) return undefined;
  const json = row.annotations === ANNOTATIONS_IN_BODY ? new TextDecoder().decode(readManifestBytes(sql, row.digest, row.size)) : row.annotations;
  const parsed = JSON.parse(json) as { annotations?: Record<string, string> } | Record<string, string>;
  return row.annotations === ANNOTATIONS_IN_BODY ? (parsed as { annotations?: Record<string, string> }).annotations : (parsed as Record<string, string>);
}
