// Platform parsing, normalization and selection from an image index, following
// containerd's github.com/containerd/platforms (database.go normalizeArch,
// compare.go platformVector/Only, platforms.go Parse/Format/matcher).
//
// Matching = both sides normalized, then os, architecture and variant equal
// (plus Windows os.version compatibility, as containerd's windowsVersionMatcher).
// Preference = position in the wanted platform's fallback vector:
//   amd64/vN     → amd64/vN, vN-1 … v1 (= amd64), 386
//   amd64        → amd64, 386
//   arm64 (=v8)  → arm64, arm/v8, arm/v7, arm/v6, arm/v5
//   arm64/v8.x   → arm64/v8.x … v8.1, arm64, arm/v8 … arm/v5
//   arm64/v9.x   → arm64/v9.x … v9.0, v8.min(x+5,9) … v8.1, arm64, arm/v8 … arm/v5
//   arm/vN       → arm/vN … arm/v5
//   anything else → itself only
// Like containerd, an arm64 variant outside v8…v8.9 / v9…v9.7 has an EMPTY
// vector: it matches nothing, not even itself.
// Among equally preferred entries the first in index order wins.
//
// Unlike containerd (which reads the config of platform-less children), a
// descriptor without `platform` never matches here, and attestation manifests
// (`unknown/unknown`, or annotated vnd.docker.reference.type=attestation-manifest)
// never match. Pure: no I/O; nested indexes are walked by `resolvePlatformManifest`
// with a loader supplied by the caller.

import { OciError } from "../http/errors";
import type { Descriptor, Platform } from "./manifest";
import { isIndexMediaType } from "./media-types";

export type { Platform } from "./manifest";

/** The platform used when a request names none. */
export const DEFAULT_PLATFORM: Readonly<Platform> = Object.freeze({ os: "linux", architecture: "amd64" });

export const ATTESTATION_TYPE_ANNOTATION = "vnd.docker.reference.type";
export const ATTESTATION_TYPE = "attestation-manifest";
export const ATTESTATION_SUBJECT_ANNOTATION = "vnd.docker.reference.digest";

function badPlatform(input: string, problem: string): OciError {
  return new OciError("PLATFORM_UNKNOWN", `invalid platform "${input}": ${problem}`, { platform: input }, 400);
}

const OS_AND_VERSION = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$/;
const COMPONENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses `os[(os.version)]/arch[/variant]` (`linux/arm64/v8`,
 * `windows(10.0.17763)/amd64`) and returns the normalized platform. Malformed
 * input throws OciError PLATFORM_UNKNOWN with status 400.
 */
export function parsePlatform(input: string): Platform {
  const spec = input.trim();
  if (spec === "") throw badPlatform(input, "platform is empty; use os/arch[/variant], e.g. linux/amd64");
  const parts = spec.split("/");
  if (parts.length < 2 || parts.length > 3) {
    throw badPlatform(input, "use os/arch[/variant], e.g. linux/amd64 or linux/arm/v7");
  }
  const [osPart = "", arch = "", variant] = parts;
  const osMatch = OS_AND_VERSION.exec(osPart);
  if (!osMatch) throw badPlatform(input, `"${osPart}" is not a valid os (letters, digits, "_" and "-", optionally "(version)")`);
  if (!COMPONENT.test(arch)) throw badPlatform(input, `"${arch}" is not a valid architecture`);
  if (variant !== undefined && !COMPONENT.test(variant)) throw badPlatform(input, `"${variant}" is not a valid variant`);
  const platform: Platform = { os: osMatch[1] ?? "", architecture: arch };
  if (variant !== undefined) platform.variant = variant;
  const osVersion = osMatch[2];
  if (osVersion) platform["os.version"] = osVersion;
  return normalizePlatform(platform);
}

/** containerd normalizeOS (minus the runtime default for an empty os). */
function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

/** containerd normalizeArch. Returns "" for "no variant". */
function normalizeArch(architecture: string, variantIn: string): [string, string] {
  let arch = architecture.toLowerCase();
  let variant = variantIn.toLowerCase();
  switch (arch) {
    case "i386":
      arch = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  return [arch, variant];
}

/**
 * Canonical form of a platform (see the file comment for the table). Fields
 * other than os, architecture and variant are kept as they are; an empty
 * variant is removed.
 */
export function normalizePlatform(platform: Platform): Platform {
  const [architecture, variant] = normalizeArch(platform.architecture, platform.variant ?? "");
  const { variant: _dropped, ...rest } = platform;
  const normalized: Platform = { ...rest, os: normalizeOs(platform.os), architecture };
  if (variant !== "") normalized.variant = variant;
  return normalized;
}

/**
 * `os/arch[/variant]`, as given (normalize first for the canonical spelling).
 * With `withOsVersion`, an os.version is shown as `os(version)`, which
 * parsePlatform reads back.
 */
export function formatPlatform(platform: Platform, options: { withOsVersion?: boolean } = {}): string {
  const osVersion = options.withOsVersion ? platform["os.version"] : undefined;
  const os = osVersion ? `${platform.os}(${osVersion})` : platform.os;
  return [os, platform.architecture, platform.variant].filter((part) => part !== undefined && part !== "").join("/");
}

// containerd compare.go arm64variantToVersion: [major, highest minor] pairs to walk down.
const ARM64_VERSIONS: Record<string, ReadonlyArray<readonly [number, number]>> = {};
for (let minor = 0; minor <= 9; minor++) ARM64_VERSIONS[minor === 0 ? "v8" : `v8.${minor}`] = [[8, minor]];
ARM64_VERSIONS["v8.0"] = [[8, 0]];
for (let minor = 0; minor <= 7; minor++) ARM64_VERSIONS[minor === 0 ? "v9" : `v9.${minor}`] = [[9, minor], [8, Math.min(minor + 5, 9)]];
ARM64_VERSIONS["v9.0"] = [[9, 0], [8, 5]];

/**
 * The ordered list of platforms acceptable for `wanted`, most preferred first
 * (containerd platformVector of the normalized platform). Entries are normalized.
 */
export function platformVector(wanted: Platform): Platform[] {
  const base = normalizePlatform(wanted);
  const vector = rawVector(base);
  return vector.map(normalizePlatform);
}

function rawVector(platform: Platform): Platform[] {
  const { variant: _variant, ...common } = platform;
  const withArch = (architecture: string, variant?: string): Platform =>
    variant === undefined ? { ...common, architecture } : { ...common, architecture, variant };
  const vector: Platform[] = [platform];
  switch (platform.architecture) {
    case "amd64": {
      const version = variantNumber(platform.variant);
      if (version !== undefined && version > 1) {
        for (let v = version - 1; v >= 1; v--) vector.push(withArch("amd64", `v${v}`));
      }
      vector.push(withArch("386"));
      return vector;
    }
    case "arm": {
      const version = variantNumber(platform.variant);
      if (version !== undefined && version > 5) {
        for (let v = version - 1; v >= 5; v--) vector.push(withArch("arm", `v${v}`));
      }
      return vector;
    }
    case "arm64": {
      const variant = platform.variant || "v8";
      const versions = ARM64_VERSIONS[variant];
      if (!versions) return []; // containerd: unknown arm64 variants match nothing
      const out: Platform[] = [];
      for (const [major, highestMinor] of versions) {
        for (let minor = highestMinor; minor >= 0; minor--) {
          out.push(withArch("arm64", minor === 0 ? `v${major}` : `v${major}.${minor}`));
        }
      }
      // Every arm64 v8.x/v9.x runs 32-bit arm/v8 and below.
      out.push(...rawVector(withArch("arm", "v8")));
      return out;
    }
    default:
      return vector;
  }
}

/** Go strconv.Atoi(strings.TrimPrefix(variant, "v")). */
function variantNumber(variant: string | undefined): number | undefined {
  if (variant === undefined) return undefined;
  const digits = variant.startsWith("v") ? variant.slice(1) : variant;
  return /^[+-]?[0-9]+$/.test(digits) ? Number.parseInt(digits, 10) : undefined;
}

// --- Windows os.version (containerd platform_windows_compat.go) ---

interface WindowsVersion {
  major: number;
  minor: number;
  build: number;
}
const WS2022_BUILD = 20348;
const COMPAT_LTSC_BUILDS = [WS2022_BUILD];

function windowsVersion(value: string): WindowsVersion | undefined {
  const parts = value.split(".");
  if (parts.length < 3) return undefined;
  const [major, minor, build] = parts.slice(0, 3).map((part) => (/^[0-9]+$/.test(part) ? Number(part) : NaN));
  if (major === undefined || minor === undefined || build === undefined) return undefined;
  if (!(major <= 0xff && minor <= 0xff && build <= 0xffff)) return undefined; // also rejects NaN
  return { major, minor, build };
}

function windowsCompatible(host: WindowsVersion, image: WindowsVersion): boolean {
  if (host.major !== image.major || host.minor !== image.minor) return false;
  if (host.build < WS2022_BUILD) return host.build === image.build;
  let ltsc = 0;
  for (const build of [...COMPAT_LTSC_BUILDS].reverse()) {
    if (host.build >= build) {
      ltsc = build;
      break;
    }
  }
  return image.build >= ltsc && image.build <= host.build;
}

function osVersionMatches(wanted: Platform, offered: Platform): boolean {
  if (wanted.os !== "windows") return true;
  const host = wanted["os.version"] ? windowsVersion(wanted["os.version"]) : undefined;
  if (!host || (host.major === 0 && host.minor === 0 && host.build === 0)) return true;
  if (!offered["os.version"]) return true;
  const image = windowsVersion(offered["os.version"]) ?? { major: 0, minor: 0, build: 0 };
  return windowsCompatible(host, image);
}

// --- Matching ---

function sameTriple(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? "") === (b.variant ?? "");
}

/** True for BuildKit attestation manifests: annotated as such, or platform unknown/unknown. */
export function isAttestation(descriptor: Descriptor): boolean {
  if (descriptor.annotations?.[ATTESTATION_TYPE_ANNOTATION] === ATTESTATION_TYPE) return true;
  const platform = descriptor.platform;
  return platform !== undefined && platform.os.toLowerCase() === "unknown" && platform.architecture.toLowerCase() === "unknown";
}

export interface PlatformMatcher {
  /** The normalized wanted platform. */
  readonly wanted: Platform;
  /** The normalized fallback vector. */
  readonly vector: readonly Platform[];
  /** Preference rank of an offered platform: 0 is best, undefined means no match. */
  rank(offered: Platform): number | undefined;
  /** Preference rank of an index entry; attestations and platform-less entries never match. */
  rankDescriptor(descriptor: Descriptor): number | undefined;
}

/** containerd platforms.Only(wanted). */
export function platformMatcher(wanted: Platform = DEFAULT_PLATFORM): PlatformMatcher {
  const normalizedWanted = normalizePlatform(wanted);
  const vector = platformVector(normalizedWanted);
  const rank = (offered: Platform): number | undefined => {
    const normalized = normalizePlatform(offered);
    if (normalized.os === "unknown" && normalized.architecture === "unknown") return undefined;
    const index = vector.findIndex((candidate) => sameTriple(candidate, normalized) && osVersionMatches(candidate, offered));
    return index === -1 ? undefined : index;
  };
  return {
    wanted: normalizedWanted,
    vector,
    rank,
    rankDescriptor(descriptor) {
      if (!descriptor.platform || isAttestation(descriptor)) return undefined;
      return rank(descriptor.platform);
    },
  };
}

/** All entries of an index's `manifests` matching `wanted`, best first (stable: index order within a rank). */
export function matchingManifests(manifests: readonly Descriptor[], wanted: Platform = DEFAULT_PLATFORM): Descriptor[] {
  const matcher = platformMatcher(wanted);
  const ranked: Array<{ rank: number; position: number; descriptor: Descriptor }> = [];
  manifests.forEach((descriptor, position) => {
    const rank = matcher.rankDescriptor(descriptor);
    if (rank !== undefined) ranked.push({ rank, position, descriptor });
  });
  ranked.sort((a, b) => a.rank - b.rank || a.position - b.position);
  return ranked.map((entry) => entry.descriptor);
}

/**
 * The best entry of an index's `manifests` for `wanted`, or undefined when
 * none matches. The chosen entry may itself be an index (check its mediaType
 * with isIndexMediaType): then fetch it and select again — see
 * resolvePlatformManifest, which does exactly that with a caller-supplied loader.
 */
export function selectManifest(manifests: readonly Descriptor[], wanted: Platform = DEFAULT_PLATFORM): Descriptor | undefined {
  return matchingManifests(manifests, wanted)[0];
}

/** Like selectManifest, but throws PLATFORM_UNKNOWN (404) naming the platforms on offer. */
export function requireManifest(manifests: readonly Descriptor[], wanted: Platform = DEFAULT_PLATFORM): Descriptor {
  const found = selectManifest(manifests, wanted);
  if (found) return found;
  throw noMatch(manifests, wanted);
}

function noMatch(manifests: readonly Descriptor[], wanted: Platform): OciError {
  const available = listPlatforms(manifests).platforms.map((entry) => formatPlatform(normalizePlatform(entry.platform)));
  const offered = available.length ? `available: ${[...new Set(available)].join(", ")}` : "the index offers no platforms";
  const name = formatPlatform(normalizePlatform(wanted));
  return new OciError("PLATFORM_UNKNOWN", `no manifest for platform ${name}; ${offered}`, { platform: name, available });
}

export interface PlatformListing {
  /** Runnable entries, in index order. */
  platforms: Array<{ platform: Platform; descriptor: Descriptor }>;
  /** Attestation manifests and the digest of the manifest each one annotates (if named). */
  attestations: Array<{ descriptor: Descriptor; annotates?: string; annotatesPlatform?: Platform }>;
  /** Entries with no platform that are not attestations (nested indexes, artifacts). */
  other: Descriptor[];
}

/** Splits an index's `manifests` into platforms, attestations and the rest. */
export function listPlatforms(manifests: readonly Descriptor[]): PlatformListing {
  const listing: PlatformListing = { platforms: [], attestations: [], other: [] };
  for (const descriptor of manifests) {
    if (isAttestation(descriptor)) {
      const entry: PlatformListing["attestations"][number] = { descriptor };
      const annotates = descriptor.annotations?.[ATTESTATION_SUBJECT_ANNOTATION];
      if (annotates !== undefined) {
        entry.annotates = annotates;
        const subject = manifests.find((candidate) => candidate.digest === annotates && !isAttestation(candidate));
        if (subject?.platform) entry.annotatesPlatform = subject.platform;
      }
      listing.attestations.push(entry);
    } else if (descriptor.platform) {
      listing.platforms.push({ platform: descriptor.platform, descriptor });
    } else {
      listing.other.push(descriptor);
    }
  }
  return listing;
}

// --- Nested indexes ---

/** Loads the `manifests` of a child index. The caller does the I/O (R2, upstream). */
export type IndexLoader = (descriptor: Descriptor) => Promise<readonly Descriptor[]>;

export interface ResolvedPlatformManifest {
  /** The image manifest chosen. */
  descriptor: Descriptor;
  /** The index descriptors walked through to reach it (empty when it sat in the top index). */
  via: Descriptor[];
}

/**
 * Walks nested indexes to an image manifest for `wanted`:
 *   1. rank the index's entries with selectManifest's rules;
 *   2. a chosen image manifest is the answer; a chosen index is loaded with
 *      `load` and step 1 repeats inside it (depth-first, best first: if it
 *      holds no match, the next candidate is tried);
 *   3. when no platformed entry leads to a match, platform-less child indexes
 *      are tried in index order (containerd ranks platform-less entries last).
 * Returns undefined when nothing matches. A cycle, or nesting deeper than
 * `maxDepth`, throws MANIFEST_INVALID. Each distinct child index is walked at
 * most once: an index that held no match holds none the next time it is
 * listed, so a chain of indexes each listing the next many times costs one
 * walk per index, not one per path.
 */
export async function resolvePlatformManifest(
  manifests: readonly Descriptor[],
  wanted: Platform,
  load: IndexLoader,
  options: { maxDepth?: number } = {},
): Promise<ResolvedPlatformManifest | undefined> {
  const maxDepth = options.maxDepth ?? 8;
  const fruitless = new Set<string>();
  const walk = async (entries: readonly Descriptor[], via: Descriptor[]): Promise<ResolvedPlatformManifest | undefined> => {
    const candidates = [
      ...matchingManifests(entries, wanted),
      ...entries.filter((entry) => !entry.platform && !isAttestation(entry) && isIndexMediaType(entry.mediaType)),
    ];
    for (const candidate of candidates) {
      if (!isIndexMediaType(candidate.mediaType)) return { descriptor: candidate, via };
      if (via.some((parent) => parent.digest === candidate.digest)) {
        throw new OciError("MANIFEST_INVALID", `index ${candidate.digest} contains itself`);
      }
      if (fruitless.has(candidate.digest)) continue;
      if (via.length >= maxDepth) {
        throw new OciError("MANIFEST_INVALID", `indexes nest more than ${maxDepth} levels deep`);
      }
      const found = await walk(await load(candidate), [...via, candidate]);
      if (found) return found;
      fruitless.add(candidate.digest);
    }
    return undefined;
  };
  return walk(manifests, []);
}
