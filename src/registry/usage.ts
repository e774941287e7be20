// Storage figures per repository: bytes of the blobs only this repository
// links ("unique": what deleting the repository would free) and bytes of the
// blobs other repositories link too ("shared"). Sharing is known only to the
// blobs' BlobIndexDOs, so a fresh figure costs one call per linked blob; the
// result is cached in the RepositoryDO and reused for `maxAgeMs`.

import { blobIndexStub } from "./blob-index-do";
import { repositoryStub } from "./repository-do";

export interface RepositoryUsage {
  name: string;
  manifests: number;
  /** Bytes of the manifests themselves (stored in the Durable Object). */
  manifestBytes: number;
  /** Blobs linked into the repository, each counted once. */
  blobs: number;
  blobBytes: number;
  /** Bytes of blobs no other repository links. */
  uniqueBytes: number;
  /** Bytes of blobs other repositories link too (stored once in R2 for all of them). */
  sharedBytes: number;
  sharedBlobs: number;
  /** Bytes of linked blobs no manifest references (waiting for the grace window). */
  unreferencedBytes: number;
  /** When these figures were computed, ISO 8601. */
  computedAt: string;
}

/** Cached figures younger than this are returned as they are. */
export const USAGE_MAX_AGE_MS = 10 * 60 * 1000;
const PAGE = 500;
const CONCURRENCY = 16;

export async function repositoryUsage(env: Env, name: string, options: { maxAgeMs?: number } = {}): Promise<RepositoryUsage> {
  const repository = repositoryStub(env, name);
  const maxAgeMs = options.maxAgeMs ?? USAGE_MAX_AGE_MS;
  const cached = await repository.cachedUsage();
  if (cached && cached.name === name && Date.now() - Date.parse(cached.computedAt) <= maxAgeMs) return cached;
  const totals = await repository.usageTotals();
  let sharedBytes = 0;
  let sharedBlobs = 0;
  for (let after = ""; ; ) {
    const page = await repository.blobPage(after, PAGE);
    for (let at = 0; at < page.length; at += CONCURRENCY) {
      const slice = page.slice(at, at + CONCURRENCY);
      const links = await Promise.all(slice.map((blob) => blobIndexStub(env, blob.digest).countLinks()));
      slice.forEach((blob, i) => {
        if ((links[i] ?? 0) > 1) {
          sharedBytes += blob.size;
          sharedBlobs++;
        }
      });
    }
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    after = last.digest;
  }
  const usage: RepositoryUsage = {
    name,
    ...totals,
    uniqueBytes: totals.blobBytes - sharedBytes,
    sharedBytes,
    sharedBlobs,
    computedAt: new Date().toISOString(),
  };
  // (No state is created for a name that has none.)
  if (cached || usage.manifests > 0 || usage.blobs > 0) await repository.storeUsage(usage);
  return usage;
}
