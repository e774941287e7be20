// Resolves an image reference to the digest it points to and, for the wanted
// platform, the image manifest with its config and layers — the answer of
// GET /api/v1/resolve, and the first half of GET /api/v1/inspect.

import { OciError } from "../http/errors";
import type { Descriptor, Platform } from "../oci/manifest";
import {
  DEFAULT_PLATFORM,
  formatPlatform,
  isAttestation,
  listPlatforms,
  normalizePlatform,
  parsePlatform,
  platformMatcher,
  resolvePlatformManifest,
} from "../oci/platform";
import { normalizedReference, pinnedReference, type ImageSource } from "./image-source";
import { ManifestReader, type LoadedManifest } from "./manifest-reader";

export interface BlobSummary {
  digest: string;
  size: number;
  mediaType: string;
  urls?: string[];
}

export interface PlatformEntry {
  /** `os/arch[/variant]`, normalized (containerd spelling). */
  platform: string;
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  digest: string;
  mediaType: string;
  size: number;
}

export interface AttestationEntry {
  digest: string;
  mediaType: string;
  size: number;
  /** Digest of the manifest the attestation is about, when annotated. */
  annotates: string | null;
  /** Platform of that manifest, when it is in the same index. */
  platform: string | null;
}

export interface ChosenManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** Normalized `os/arch[/variant]` of the chosen manifest (null when it declares none). */
  platform: string | null;
  /** The platform as the index (or the config, for a single image) states it. */
  platformDetail: Platform | null;
  /** Digests of the nested indexes walked through to reach this manifest. */
  via: string[];
  config: BlobSummary | null;
  layers: BlobSummary[];
  /** Bytes of the distinct blobs (config and layers) of this manifest: what a pull downloads at most. */
  totalSize: number;
  pinned: string;
}

export interface PlatformStatement {
  /** The platform parameter as given, or null. */
  requested: string | null;
  /** The platform matched against, normalized. */
  wanted: string;
  /** True when no platform was given and the default was used. */
  default: boolean;
  /** The platform of the chosen manifest (null when it declares none). */
  chosen: string | null;
  /** False when a single-platform image does not match the (default) platform. */
  matched: boolean;
  note: string;
}

export interface Resolution {
  reference: string;
  normalized: string;
  normalizations: string[];
  repository: { name: string; kind: "hosted" | "cached"; route: string };
  tag: string | null;
  digest: string;
  mediaType: string;
  size: number;
  isIndex: boolean;
  platform: PlatformStatement;
  platforms: PlatformEntry[];
  attestations: AttestationEntry[];
  /** Index entries that are neither platforms nor attestations (nested indexes, artifacts). */
  other: Array<{ digest: string; mediaType: string; size: number; artifactType?: string }>;
  manifest: ChosenManifest;
  pinned: string;
  warning?: string;
}

export interface ResolvedImage {
  answer: Resolution;
  /** What the reference points at (an index or an image). */
  top: LoadedManifest;
  /** The image manifest chosen for the platform. */
  chosen: LoadedManifest;
  /** The descriptor of the chosen manifest in its index (undefined for a single image). */
  chosenDescriptor: Descriptor | undefined;
  reader: ManifestReader;
}

/** Parses the `platform` query parameter; null/empty means the default. */
export function wantedPlatform(param: string | null): { wanted: Platform; requested: string | null } {
  if (param === null || param.trim() === "") return { wanted: { ...DEFAULT_PLATFORM }, requested: null };
  return { wanted: parsePlatform(param), requested: param };
}

export function platformName(platform: Platform): string {
  return formatPlatform(normalizePlatform(platform));
}

export async function resolveImage(source: ImageSource, platformParam: string | null): Promise<ResolvedImage> {
  const { wanted, requested } = wantedPlatform(platformParam);
  const reader = new ManifestReader(source.repository);
  const top = await loadTop(source, reader);
  const wantedName = platformName(wanted);

  let chosen: LoadedManifest;
  let chosenDescriptor: Descriptor | undefined;
  let chosenPlatform: Platform | undefined;
  let via: string[] = [];
  let matched = true;
  let platforms: PlatformEntry[] = [];
  let attestations: AttestationEntry[] = [];
  let other: Resolution["other"] = [];

  if (top.parsed.isIndex) {
    const manifests = top.parsed.manifests;
    const listing = listPlatforms(manifests);
    platforms = listing.platforms.map(({ platform, descriptor }) => platformEntry(platform, descriptor));
    attestations = listing.attestations.map((entry) => ({
      digest: entry.descriptor.digest,
      mediaType: entry.descriptor.mediaType,
      size: entry.descriptor.size,
      annotates: entry.annotates ?? null,
      platform: entry.annotatesPlatform ? platformName(entry.annotatesPlatform) : null,
    }));
    other = listing.other.map((d) => ({ digest: d.digest, mediaType: d.mediaType, size: d.size, ...(d.artifactType ? { artifactType: d.artifactType } : {}) }));
    const found = await resolvePlatformManifest(manifests, wanted, reader.childIndex);
    if (!found) throw await platformUnknown(source, manifests, wanted, reader);
    chosenDescriptor = found.descriptor;
    chosenPlatform = found.descriptor.platform;
    via = found.via.map((d) => d.digest);
    chosen = await reader.manifest(found.descriptor.digest);
    if (chosen.parsed.isIndex) throw new OciError("MANIFEST_INVALID", `${found.descriptor.digest} is listed as an image but is an index`);
  } else {
    chosen = top;
    chosenPlatform = await reader.platformOf(top);
    if (chosenPlatform) {
      platforms = [platformEntry(chosenPlatform, { digest: top.digest, mediaType: top.mediaType, size: top.size })];
      matched = platformMatcher(wanted).rank(chosenPlatform) !== undefined;
      if (!matched && requested !== null) {
        const available = [platformName(chosenPlatform)];
        throw new OciError(
          "PLATFORM_UNKNOWN",
          `${normalizedReference(source)} is a single-platform image for ${available[0]}; it has no manifest for ${wantedName}`,
          { platform: wantedName, available },
        );
      }
    }
  }

  const chosenName = chosenPlatform ? platformName(chosenPlatform) : null;
  const answer: Resolution = {
    reference: source.input,
    normalized: normalizedReference(source),
    normalizations: source.notes,
    repository: { name: source.repository.name, kind: source.repository.kind, route: source.route },
    tag: source.reference.tag ?? null,
    digest: top.digest,
    mediaType: top.mediaType,
    size: top.size,
    isIndex: top.parsed.isIndex,
    platform: {
      requested,
      wanted: wantedName,
      default: requested === null,
      chosen: chosenName,
      matched,
      note: platformNote(top, requested, wantedName, chosenName, matched),
    },
    platforms,
    attestations,
    other,
    manifest: chosenSummary(source, chosen, chosenPlatform, via),
    pinned: pinnedReference(source, top.digest),
  };
  const warning = top.warning ?? chosen.warning;
  if (warning) answer.warning = warning;
  return { answer, top, chosen, chosenDescriptor, reader };
}

async function loadTop(source: ImageSource, reader: ManifestReader): Promise<LoadedManifest> {
  const ref = source.reference;
  const what = ref.digest ?? ref.tag ?? "latest";
  try {
    return await reader.manifest(what);
  } catch (error) {
    if (!(error instanceof OciError) || (error.code !== "MANIFEST_UNKNOWN" && error.code !== "NAME_UNKNOWN")) throw error;
    const shown = normalizedReference(source);
    const detail = { reference: shown, repository: source.repository.name, kind: source.repository.kind, cause: error.message };
    if (error.code === "NAME_UNKNOWN" || (source.repository.kind === "hosted" && !(await repositoryExists(source)))) {
      throw new OciError("NAME_UNKNOWN", `${shown}: repository ${source.repository.name} is unknown (${source.route})`, detail);
    }
    const missing = ref.digest ? `manifest ${ref.digest}` : `tag ${what}`;
    throw new OciError("MANIFEST_UNKNOWN", `${shown}: ${missing} is unknown in repository ${source.repository.name}`, detail);
  }
}

async function repositoryExists(source: ImageSource): Promise<boolean> {
  try {
    await source.repository.listTags(1, undefined);
    return true;
  } catch (error) {
    if (error instanceof OciError && error.code === "NAME_UNKNOWN") return false;
    throw error;
  }
}

function platformEntry(platform: Platform, descriptor: Pick<Descriptor, "digest" | "mediaType" | "size">): PlatformEntry {
  const normalized = normalizePlatform(platform);
  return {
    platform: formatPlatform(normalized),
    os: normalized.os,
    architecture: normalized.architecture,
    ...(normalized.variant ? { variant: normalized.variant } : {}),
    ...(platform["os.version"] ? { "os.version": platform["os.version"] } : {}),
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    size: descriptor.size,
  };
}

function chosenSummary(source: ImageSource, manifest: LoadedManifest, platform: Platform | undefined, via: string[]): ChosenManifest {
  const config = manifest.parsed.config;
  const layers = manifest.layers.map(blobSummary);
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.size,
    platform: platform ? platformName(platform) : null,
    platformDetail: platform ?? null,
    via,
    config: config ? blobSummary(config) : null,
    layers,
    totalSize: distinctSize([...(config ? [config] : []), ...manifest.layers]),
    pinned: pinnedReference(source, manifest.digest),
  };
}

function blobSummary(descriptor: Descriptor): BlobSummary {
  const summary: BlobSummary = { digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType };
  if (descriptor.urls?.length) summary.urls = descriptor.urls;
  return summary;
}

/** Sum of sizes over distinct digests (a layer listed twice is downloaded once). */
export function distinctSize(descriptors: readonly Pick<Descriptor, "digest" | "size">[]): number {
  const seen = new Map<string, number>();
  for (const d of descriptors) seen.set(d.digest, d.size);
  let total = 0;
  for (const size of seen.values()) total += size;
  return total;
}

function platformNote(top: LoadedManifest, requested: string | null, wanted: string, chosen: string | null, matched: boolean): string {
  const asked = requested === null ? `no platform given; used the default ${wanted}` : `platform ${wanted} requested`;
  if (top.parsed.isIndex) return `${asked}; chose ${chosen ?? "a manifest"} from the index`;
  if (chosen === null) return `${asked}; the image declares no platform (not an image config), so its only manifest is the answer`;
  if (!matched) return `${asked}; the image is single-platform ${chosen} and does not match it (docker would pull it with a platform warning)`;
  return `${asked}; the image is single-platform ${chosen}`;
}

const MAX_NESTED_LISTED = 16;

/** PLATFORM_UNKNOWN naming every platform on offer, including those inside nested indexes. */
async function platformUnknown(source: ImageSource, manifests: readonly Descriptor[], wanted: Platform, reader: ManifestReader): Promise<OciError> {
  const available: string[] = [];
  let budget = MAX_NESTED_LISTED;
  const collect = async (entries: readonly Descriptor[], depth: number): Promise<void> => {
    const listing = listPlatforms(entries);
    for (const { platform } of listing.platforms) available.push(platformName(platform));
    if (depth >= 2) return;
    for (const nested of listing.other) {
      if (budget-- <= 0) return;
      try {
        await collect(await reader.childIndex(nested), depth + 1);
      } catch {
        // not an index, or unreadable: nothing to list from it
      }
    }
  };
  await collect(manifests, 0);
  const unique = [...new Set(available)];
  const name = platformName(wanted);
  const attestations = manifests.filter(isAttestation).length;
  const offered = unique.length ? `available: ${unique.join(", ")}` : "the index offers no platforms";
  return new OciError("PLATFORM_UNKNOWN", `${normalizedReference(source)} has no manifest for platform ${name}; ${offered}`, {
    platform: name,
    available: unique,
    attestations,
  });
}
