// GET /api/v1/repositories/<name>/images/<digest>
//
// What an image (one manifest) stores and shares: each blob (config and
// layers) with the other images of this repository and the other repositories
// that use it, and how many bytes deleting the image would free now — the
// blobs whose only reference anywhere is this manifest. Computed from the
// reference counts the lifecycle releases by (RepositoryDO) and the links the
// blob index keeps (BlobIndexDO), so the figure is what a delete followed by
// the grace window really frees. Reads stored state only: never the upstream.

import { callerOf } from "../auth/gate";
import { unwrap } from "../http/errors";
import { param } from "../http/request";
import { jsonResponse } from "../http/responses";
import { parseDigest } from "../oci/digest";
import { parseManifest, type Descriptor } from "../oci/manifest";
import { blobIndexStub } from "../registry/blob-index-do";
import type { BlobSharing, ManifestUser } from "../registry/blob-sharing";
import { openRepository } from "../registry/open-repository";
import { repositoryStub } from "../registry/repository-do";

/** Other repositories named per blob; the count stays exact beyond it. */
const MAX_LISTED_REPOSITORIES = 8;

type RoutedRequest = Request & { params?: Record<string, string> };

export interface BlobUse {
  digest: string;
  size: number;
  mediaType: string;
  role: "config" | "layer";
  /** Other images (manifests) of this repository that use the blob. */
  images: ManifestUser[];
  imageCount: number;
  /** Other repositories that hold the blob (stored once in R2 for all of them). */
  repositories: string[];
  repositoryCount: number;
  /** True when deleting this image would delete the blob (after the grace window). */
  freedByDelete: boolean;
}

export async function imageStorage(request: RoutedRequest, env: Env): Promise<Response> {
  const repository = openRepository(env, param(request, "name"));
  const digest = parseDigest(param(request, "digest")).digest;
  const state = repositoryStub(env, repository.name);
  const manifest = unwrap(await state.getManifest(digest));
  const parsed = parseManifest(manifest.bytes, manifest.mediaType);

  const descriptors = distinct([...(parsed.config ? [{ ...parsed.config, role: "config" as const }] : []), ...parsed.blobs.filter((b) => b !== parsed.config).map((b) => ({ ...b, role: "layer" as const }))]);
  const sharing = await state.imageSharing(digest, descriptors.map((d) => d.digest));
  const caller = callerOf(request);
  const blobs = await Promise.all(descriptors.map((descriptor, i) => blobUse(env, repository.name, descriptor, sharing.blobs[i]!, (name) => caller.lists(name))));
  const freed = blobs.filter((b) => b.freedByDelete);
  const blocked = sharing.listedBy.length > 0;
  return jsonResponse(
    {
      repository: repository.name,
      kind: repository.kind,
      digest,
      mediaType: manifest.mediaType,
      isIndex: parsed.isIndex,
      blobs,
      listedBy: sharing.listedBy,
      wouldFree: {
        bytes: blocked ? 0 : freed.reduce((sum, b) => sum + b.size, 0),
        blobs: blocked ? 0 : freed.length,
        note: parsed.isIndex
          ? "an index holds no layers: deleting it frees none; its platform manifests stay until they are deleted themselves"
          : blocked
            ? "an index lists this image: delete the index first (deleting this manifest alone is refused)"
            : "blobs that no other image and no other repository references; they are deleted after the grace window (BLOB_GRACE_SECONDS)",
      },
    },
    200,
    { "Cache-Control": "no-cache" },
  );
}

async function blobUse(env: Env, repository: string, descriptor: Descriptor & { role: "config" | "layer" }, sharing: BlobSharing, visible: (name: string) => boolean): Promise<BlobUse> {
  const index = blobIndexStub(env, descriptor.digest);
  const [linked, count] = await Promise.all([index.linkedRepositories("", MAX_LISTED_REPOSITORIES + 1), index.countLinks()]);
  // Names only of repositories the caller may pull; the count stays exact.
  const others = linked.map((l) => l.repository).filter((name) => name !== repository && visible(name));
  const repositoryCount = count - (sharing.linked ? 1 : 0);
  return {
    digest: descriptor.digest,
    size: descriptor.size,
    mediaType: descriptor.mediaType,
    role: descriptor.role,
    images: sharing.others,
    imageCount: Math.max(0, sharing.refcount - 1),
    repositories: others.slice(0, MAX_LISTED_REPOSITORIES),
    repositoryCount: Math.max(0, repositoryCount),
    freedByDelete: sharing.linked && sharing.refcount <= 1 && repositoryCount <= 0,
  };
}

function distinct<T extends { digest: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(item.digest) && seen.add(item.digest));
}
