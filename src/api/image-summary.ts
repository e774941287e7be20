// Platforms and size of a tagged (or dangling) manifest, for repository
// listings. Bounded: at most MAX_CHILDREN children of an index are read, and
// children of a cached index are not read at all (each would be an upstream
// manifest request, counted by Docker Hub's pull limit).

import { OciError } from "../http/errors";
import type { Descriptor } from "../oci/manifest";
import { listPlatforms } from "../oci/platform";
import { distinctSize, platformName } from "./image-lookup";
import type { ManifestReader } from "./manifest-reader";

export const MAX_CHILDREN = 64;
const MAX_DEPTH = 2;

export interface ImageSummary {
  isIndex: boolean;
  /** Normalized `os/arch[/variant]` of each runnable platform (attestations left out). */
  platforms: string[];
  /** Bytes of the distinct configs and layers; null when not known without upstream requests. */
  size: number | null;
  /** Attestation manifests in the index. */
  attestations: number;
}

export async function summarize(reader: ManifestReader, digest: string): Promise<ImageSummary> {
  const manifest = await reader.manifest(digest);
  if (!manifest.parsed.isIndex) {
    const platform = await reader.platformOf(manifest).catch(ignoreInvalid);
    const config = manifest.parsed.config;
    return {
      isIndex: false,
      platforms: platform ? [platformName(platform)] : [],
      size: distinctSize([...(config ? [config] : []), ...manifest.layers]),
      attestations: 0,
    };
  }
  const platforms: string[] = [];
  const blobs: Descriptor[] = [];
  const readChildren = reader.repository.kind === "hosted";
  let sizeKnown = readChildren;
  let attestations = 0;
  let budget = MAX_CHILDREN;
  const walk = async (entries: readonly Descriptor[], depth: number): Promise<void> => {
    const listing = listPlatforms(entries);
    platforms.push(...listing.platforms.map(({ platform }) => platformName(platform)));
    attestations += listing.attestations.length;
    if (!readChildren) return;
    for (const child of entries) {
      if (budget <= 0 || depth >= MAX_DEPTH) {
        sizeKnown = false;
        return;
      }
      budget--;
      const loaded = await reader.manifest(child.digest).catch(ignoreMissing);
      if (!loaded) sizeKnown = false;
      else if (loaded.parsed.isIndex) await walk(loaded.parsed.manifests, depth + 1);
      else blobs.push(...(loaded.parsed.config ? [loaded.parsed.config] : []), ...loaded.layers);
    }
  };
  await walk(manifest.parsed.manifests, 0);
  return { isIndex: true, platforms: [...new Set(platforms)], size: sizeKnown ? distinctSize(blobs) : null, attestations };
}

function ignoreMissing(error: unknown): undefined {
  if (error instanceof OciError && (error.code === "MANIFEST_UNKNOWN" || error.code === "MANIFEST_INVALID")) return undefined;
  throw error;
}

function ignoreInvalid(error: unknown): undefined {
  if (error instanceof OciError && (error.code === "MANIFEST_INVALID" || error.code === "BLOB_UNKNOWN")) return undefined;
  throw error;
}
