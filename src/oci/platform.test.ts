import { describe, expect, it } from "vitest";
import { OciError } from "../http/errors";
import { parseManifest, type Descriptor, type Platform } from "./manifest";
import { MediaType } from "./media-types";
import {
  DEFAULT_PLATFORM,
  formatPlatform,
  isAttestation,
  listPlatforms,
  matchingManifests,
  normalizePlatform,
  parsePlatform,
  platformMatcher,
  platformVector,
  requireManifest,
  resolvePlatformManifest,
  selectManifest,
} from "./platform";

// --- fixtures ---------------------------------------------------------------

/** A deterministic, well-formed digest per name, so results can be mapped back to names. */
const NAMES = new Map<string, string>();
function digestOf(name: string): string {
  const hex = Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex.length > 64) throw new Error(`fixture name too long: ${name}`);
  const digest = `sha256:${hex.padEnd(64, "0")}`;
  NAMES.set(digest, name);
  return digest;
}

/** `spec` is "os/arch[/variant]" taken literally (not normalized), or null for no platform. */
function desc(name: string, spec: string | null, extra: Partial<Descriptor> = {}): Descriptor {
  const d: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf(name), size: 500, ...extra };
  if (spec !== null && extra.platform === undefined) {
    const [os = "", architecture = "", variant] = spec.split("/");
    d.platform = variant === undefined ? { os, architecture } : { os, architecture, variant };
  }
  return d;
}

function attestation(name: string, of: string, platform: string | null = "unknown/unknown"): Descriptor {
  return desc(name, platform, {
    annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": digestOf(of) },
  });
}

const p = (os: string, architecture: string, variant?: string): Platform =>
  variant === undefined ? { os, architecture } : { os, architecture, variant };

function nameOf(found: Descriptor | undefined): string | undefined {
  if (!found) return undefined;
  return NAMES.get(found.digest) ?? `?${found.digest}`;
}

function thrown(fn: () => unknown): OciError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OciError) return error;
    throw error;
  }
  throw new Error("expected an OciError");
}

// --- parsePlatform ----------------------------------------------------------

describe("parsePlatform", () => {
  const valid: Array<[string, Platform]> = [
    ["linux/amd64", p("linux", "amd64")],
    ["linux/arm64/v8", p("linux", "arm64")],
    ["linux/arm64", p("linux", "arm64")],
    ["linux/arm64/v9.0", p("linux", "arm64", "v9")],
    ["linux/arm64/v8.2", p("linux", "arm64", "v8.2")],
    ["linux/arm/v7", p("linux", "arm", "v7")],
    ["linux/arm", p("linux", "arm", "v7")],
    ["linux/arm/6", p("linux", "arm", "v6")],
    ["linux/armhf", p("linux", "arm", "v7")],
    ["linux/armel", p("linux", "arm", "v6")],
    ["linux/aarch64", p("linux", "arm64")],
    ["linux/x86_64", p("linux", "amd64")],
    ["linux/x86-64", p("linux", "amd64")],
    ["linux/i386", p("linux", "386")],
    ["linux/amd64/v1", p("linux", "amd64")],
    ["linux/amd64/v3", p("linux", "amd64", "v3")],
    ["Linux/AMD64", p("linux", "amd64")],
    ["macos/arm64", p("darwin", "arm64")],
    ["MacOS/AArch64/V8", p("darwin", "arm64")],
    ["linux/riscv64", p("linux", "riscv64")],
    ["linux/ppc64le", p("linux", "ppc64le")],
    [" linux/s390x ", p("linux", "s390x")],
    ["windows(10.0.17763)/amd64", { os: "windows", architecture: "amd64", "os.version": "10.0.17763" }],
    ["windows()/amd64", p("windows", "amd64")],
    ["unknown/unknown", p("unknown", "unknown")],
  ];
  it.each(valid)("%j → %j", (input, expected) => {
    expect(parsePlatform(input)).toEqual(expected);
  });

  const invalid: Array<[string, string]> = [
    ["", "platform is empty"],
    ["   ", "platform is empty"],
    ["linux", "use os/arch[/variant]"],
    ["arm64", "use os/arch[/variant]"],
    ["linux/arm64/v8/extra", "use os/arch[/variant]"],
    ["linux/", '"" is not a valid architecture'],
    ["/amd64", '"" is not a valid os'],
    ["linux/arm/", '"" is not a valid variant'],
    ["linux/*", '"*" is not a valid architecture'],
    ["*/amd64", '"*" is not a valid os'],
    ["li nux/amd64", '"li nux" is not a valid os'],
    ["linux.1/amd64", '"linux.1" is not a valid os'],
    ["windows(10.0/amd64", '"windows(10.0" is not a valid os'],
    ["linux/amd64/v+1", '"v+1" is not a valid variant'],
  ];
  it.each(invalid)("%j is rejected (%s)", (input, fragment) => {
    const error = thrown(() => parsePlatform(input));
    expect(error.code).toBe("PLATFORM_UNKNOWN");
    expect(error.status).toBe(400);
    expect(error.message).toContain(`invalid platform "${input}"`);
    expect(error.message).toContain(fragment);
  });
});

// --- normalizePlatform ------------------------------------------------------

describe("normalizePlatform (containerd normalizeOS/normalizeArch)", () => {
  const rows: Array<[Platform, Platform]> = [
    // os
    [p("LINUX", "amd64"), p("linux", "amd64")],
    [p("macos", "arm64"), p("darwin", "arm64")],
    [p("MacOS", "arm64"), p("darwin", "arm64")],
    [p("darwin", "arm64"), p("darwin", "arm64")],
    [p("Windows", "amd64"), p("windows", "amd64")],
    // x86
    [p("linux", "i386"), p("linux", "386")],
    [p("linux", "i386", "v2"), p("linux", "386")], // variant dropped
    [p("linux", "386"), p("linux", "386")],
    [p("linux", "x86_64"), p("linux", "amd64")],
    [p("linux", "x86-64"), p("linux", "amd64")],
    [p("linux", "X86_64", "V3"), p("linux", "amd64", "v3")],
    [p("linux", "amd64", "v1"), p("linux", "amd64")],
    [p("linux", "x86_64", "v1"), p("linux", "amd64")],
    [p("linux", "amd64", "v2"), p("linux", "amd64", "v2")],
    [p("linux", "amd64", ""), p("linux", "amd64")],
    // arm64
    [p("linux", "aarch64"), p("linux", "arm64")],
    [p("linux", "AArch64", "v8"), p("linux", "arm64")],
    [p("linux", "arm64", "8"), p("linux", "arm64")],
    [p("linux", "arm64", "v8"), p("linux", "arm64")],
    [p("linux", "arm64", "v8.0"), p("linux", "arm64")],
    [p("linux", "arm64", "V8"), p("linux", "arm64")],
    [p("linux", "arm64", "9"), p("linux", "arm64", "v9")],
    [p("linux", "arm64", "9.0"), p("linux", "arm64", "v9")],
    [p("linux", "arm64", "v9.0"), p("linux", "arm64", "v9")],
    [p("linux", "arm64", "v9"), p("linux", "arm64", "v9")],
    [p("linux", "arm64", "v8.2"), p("linux", "arm64", "v8.2")],
    [p("linux", "arm64", "v9.1"), p("linux", "arm64", "v9.1")],
    [p("linux", "aarch64", "9"), p("linux", "arm64", "v9")],
    // arm
    [p("linux", "armhf"), p("linux", "arm", "v7")],
    [p("linux", "armhf", "v6"), p("linux", "arm", "v7")], // armhf forces v7
    [p("linux", "armel"), p("linux", "arm", "v6")],
    [p("linux", "armel", "v7"), p("linux", "arm", "v6")], // armel forces v6
    [p("linux", "arm"), p("linux", "arm", "v7")],
    [p("linux", "arm", ""), p("linux", "arm", "v7")],
    [p("linux", "arm", "7"), p("linux", "arm", "v7")],
    [p("linux", "arm", "5"), p("linux", "arm", "v5")],
    [p("linux", "arm", "6"), p("linux", "arm", "v6")],
    [p("linux", "arm", "8"), p("linux", "arm", "v8")],
    [p("linux", "arm", "v6"), p("linux", "arm", "v6")],
    [p("linux", "ARM", "V5"), p("linux", "arm", "v5")],
    // untouched architectures
    [p("linux", "ppc64le"), p("linux", "ppc64le")],
    [p("linux", "riscv64"), p("linux", "riscv64")],
    [p("linux", "s390x"), p("linux", "s390x")],
    [p("unknown", "unknown"), p("unknown", "unknown")],
    // other fields are kept
    [
      { os: "Windows", architecture: "x86_64", "os.version": "10.0.17763.5329", "os.features": ["win32k"], features: ["sse4"] },
      { os: "windows", architecture: "amd64", "os.version": "10.0.17763.5329", "os.features": ["win32k"], features: ["sse4"] },
    ],
  ];
  it.each(rows)("%j → %j", (input, expected) => {
    const before = structuredClone(input);
    expect(normalizePlatform(input)).toEqual(expected);
    expect(input).toEqual(before); // not mutated
    expect(normalizePlatform(expected)).toEqual(expected); // idempotent
  });
});

// --- formatPlatform ---------------------------------------------------------

describe("formatPlatform", () => {
  const rows: Array<[Platform, { withOsVersion?: boolean } | undefined, string]> = [
    [p("linux", "amd64"), undefined, "linux/amd64"],
    [p("linux", "arm", "v7"), undefined, "linux/arm/v7"],
    [p("linux", "arm64", ""), undefined, "linux/arm64"],
    [p("linux", "x86_64"), undefined, "linux/x86_64"], // as given: normalize first for canonical
    [{ os: "windows", architecture: "amd64", "os.version": "10.0.17763" }, undefined, "windows/amd64"],
    [{ os: "windows", architecture: "amd64", "os.version": "10.0.17763" }, { withOsVersion: true }, "windows(10.0.17763)/amd64"],
    [p("linux", "amd64"), { withOsVersion: true }, "linux/amd64"],
    [DEFAULT_PLATFORM, undefined, "linux/amd64"],
  ];
  it.each(rows)("%j (%j) → %s", (platform, options, expected) => {
    expect(formatPlatform(platform, options)).toBe(expected);
  });

  it.each(["linux/amd64", "linux/arm/v7", "linux/arm64/v9", "windows(10.0.20348)/amd64", "darwin/arm64"])(
    "%s round-trips through parse and format",
    (spec) => {
      expect(formatPlatform(parsePlatform(spec), { withOsVersion: true })).toBe(spec);
    },
  );
});

// --- platformVector (containerd platformVector ∘ Normalize) -------------------

describe("platformVector", () => {
  const rows: Array<[string, string[]]> = [
    ["linux/amd64", ["linux/amd64", "linux/386"]],
    ["linux/amd64/v1", ["linux/amd64", "linux/386"]],
    ["linux/x86_64", ["linux/amd64", "linux/386"]],
    ["linux/amd64/v2", ["linux/amd64/v2", "linux/amd64", "linux/386"]],
    ["linux/amd64/v4", ["linux/amd64/v4", "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]],
    ["linux/amd64/sse", ["linux/amd64/sse", "linux/386"]],
    ["linux/386", ["linux/386"]],
    ["linux/arm64", ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm64/v8", ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/aarch64", ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    [
      "linux/arm64/v8.2",
      ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
    ],
    [
      "linux/arm64/v9",
      [
        "linux/arm64/v9",
        "linux/arm64/v8.5",
        "linux/arm64/v8.4",
        "linux/arm64/v8.3",
        "linux/arm64/v8.2",
        "linux/arm64/v8.1",
        "linux/arm64",
        "linux/arm/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm/v5",
      ],
    ],
    [
      "linux/arm64/v9.2",
      [
        "linux/arm64/v9.2",
        "linux/arm64/v9.1",
        "linux/arm64/v9",
        "linux/arm64/v8.7",
        "linux/arm64/v8.6",
        "linux/arm64/v8.5",
        "linux/arm64/v8.4",
        "linux/arm64/v8.3",
        "linux/arm64/v8.2",
        "linux/arm64/v8.1",
        "linux/arm64",
        "linux/arm/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm/v5",
      ],
    ],
    // v9.5+ caps the v8 ladder at v8.9
    ["linux/arm64/v9.5", ["linux/arm64/v9.5", "linux/arm64/v9.4", "linux/arm64/v9.3", "linux/arm64/v9.2", "linux/arm64/v9.1", "linux/arm64/v9", "linux/arm64/v8.9"]],
    // containerd: unknown arm64 variants get an empty vector
    ["linux/arm64/v10", []],
    ["linux/arm64/v9.8", []],
    ["linux/arm64/v8.10", []],
    ["linux/arm/v8", ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/armhf", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/armel", ["linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm/v6", ["linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm/v5", ["linux/arm/v5"]],
    ["linux/arm/v4", ["linux/arm/v4"]],
    ["linux/riscv64", ["linux/riscv64"]],
    ["windows/amd64", ["windows/amd64", "windows/386"]],
  ];
  it.each(rows)("%s → %j", (wanted, expected) => {
    const vector = platformVector(parsePlatform(wanted)).map((entry) => formatPlatform(entry));
    if (wanted === "linux/arm64/v9.5") {
      // Only the head of the long ladder is listed above; check it and the arm tail.
      expect(vector.slice(0, expected.length)).toEqual(expected);
      expect(vector.slice(-5)).toEqual(["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]);
      expect(vector).toHaveLength(6 + 9 + 1 + 4);
    } else {
      expect(vector).toEqual(expected);
    }
  });

  it("keeps os.version on every entry (windows version matching needs it)", () => {
    const vector = platformVector({ os: "windows", architecture: "amd64", "os.version": "10.0.17763" });
    expect(vector.map((entry) => entry["os.version"])).toEqual(["10.0.17763", "10.0.17763"]);
  });
});

// --- selectManifest ---------------------------------------------------------

// A docker-official-image shaped index, with BuildKit attestations.
const official = [
  desc("amd64", "linux/amd64"),
  attestation("att-amd64", "amd64"),
  desc("arm32v5", "linux/arm/v5"),
  desc("arm32v6", "linux/arm/v6"),
  desc("arm32v7", "linux/arm/v7"),
  desc("arm64v8", "linux/arm64/v8"),
  attestation("att-arm64v8", "arm64v8"),
  desc("i386", "linux/386"),
  desc("ppc64le", "linux/ppc64le"),
  desc("s390x", "linux/s390x"),
];

// Preference must beat index order: the fall-backs come first here.
const amd64Levels = [
  desc("x386", "linux/386"),
  desc("amd64v1", "linux/amd64/v1"),
  desc("amd64v2", "linux/amd64/v2"),
  desc("amd64v3", "linux/amd64/v3"),
];
const only386 = [desc("arm64-b", "linux/arm64"), desc("i386-b", "linux/386")];

const armLadder = [desc("arm-v5", "linux/arm/v5"), desc("arm-v6", "linux/arm/v6"), desc("arm-v7", "linux/arm/v7"), desc("arm-v8", "linux/arm/v8")];
const armOld = [desc("old-v5", "linux/arm/v5"), desc("old-v6", "linux/arm/v6")];
const armBare = [desc("arm-bare", "linux/arm"), desc("arm-7", "linux/arm/7")];

const arm64Variants = [
  desc("a64-v8.1", "linux/arm64/v8.1"),
  desc("a64-v8.5", "linux/arm64/v8.5"),
  desc("a64-v9", "linux/arm64/v9"),
  desc("a64", "linux/arm64"),
  desc("a64-v9.2", "linux/arm64/v9.2"),
];
const arm64High = [desc("hi-v8.5", "linux/arm64/v8.5"), desc("hi-v8.6", "linux/arm64/v8.6"), desc("hi-v10", "linux/arm64/v10")];
const arm64Spellings = [desc("sp-aarch64", "linux/aarch64"), desc("sp-v8", "linux/arm64/v8"), desc("sp-8", "linux/arm64/8")];

// First in index order wins within equal preference, whatever the spelling.
const ties = [
  desc("tie-ppc", "linux/ppc64le"),
  desc("tie-x86_64", "linux/x86_64"),
  desc("tie-amd64", "linux/amd64"),
  desc("tie-amd64v1", "linux/amd64/v1"),
  desc("tie-mac", "macos/arm64"),
  desc("tie-darwin", "darwin/arm64"),
];

// Nothing here may ever be selected for linux/amd64.
const neverMatch = [
  desc("no-platform", null),
  desc("annotated-amd64", "linux/amd64", { annotations: { "vnd.docker.reference.type": "attestation-manifest" } }),
  desc("unknown", "unknown/unknown"),
  desc("UNKNOWN", "Unknown/Unknown"),
  desc("win", "windows/amd64"),
];
const attestationFirst = [...neverMatch, desc("real-amd64", "linux/amd64")];

const windows = [
  desc("ltsc2019", "windows/amd64", { platform: { os: "windows", architecture: "amd64", "os.version": "10.0.17763.5329" } }),
  desc("ltsc2022", "windows/amd64", { platform: { os: "windows", architecture: "amd64", "os.version": "10.0.20348.2227" } }),
  desc("linux-amd64", "linux/amd64"),
];
const windowsNoVersion = [desc("win-any", "windows/amd64")];

const selectRows: Array<[string, readonly Descriptor[], string, string | undefined]> = [
  // [label, index, wanted, expected name]
  ["official", official, "linux/amd64", "amd64"],
  ["official", official, "linux/x86_64", "amd64"],
  ["official", official, "Linux/AMD64", "amd64"],
  ["official", official, "linux/amd64/v3", "amd64"],
  ["official", official, "linux/386", "i386"],
  ["official", official, "linux/i386", "i386"],
  ["official", official, "linux/arm64", "arm64v8"],
  ["official", official, "linux/arm64/v8", "arm64v8"],
  ["official", official, "linux/aarch64", "arm64v8"],
  ["official", official, "linux/arm64/v8.2", "arm64v8"],
  ["official", official, "linux/arm64/v9", "arm64v8"],
  ["official", official, "linux/arm64/v9.7", "arm64v8"],
  ["official", official, "linux/arm64/v10", undefined], // containerd: unknown arm64 variant matches nothing
  ["official", official, "linux/arm/v8", "arm32v7"],
  ["official", official, "linux/arm/v7", "arm32v7"],
  ["official", official, "linux/arm", "arm32v7"],
  ["official", official, "linux/armhf", "arm32v7"],
  ["official", official, "linux/arm/v6", "arm32v6"],
  ["official", official, "linux/armel", "arm32v6"],
  ["official", official, "linux/arm/v5", "arm32v5"],
  ["official", official, "linux/ppc64le", "ppc64le"],
  ["official", official, "linux/s390x", "s390x"],
  ["official", official, "linux/riscv64", undefined],
  ["official", official, "windows/amd64", undefined], // os must match
  ["official", official, "darwin/arm64", undefined],
  ["official", official, "unknown/unknown", undefined], // attestations never match
  // amd64 levels: vN, vN-1 … v1, then 386
  ["amd64Levels", amd64Levels, "linux/amd64/v4", "amd64v3"],
  ["amd64Levels", amd64Levels, "linux/amd64/v3", "amd64v3"],
  ["amd64Levels", amd64Levels, "linux/amd64/v2", "amd64v2"],
  ["amd64Levels", amd64Levels, "linux/amd64", "amd64v1"],
  ["amd64Levels", amd64Levels, "linux/amd64/v1", "amd64v1"],
  ["amd64Levels", amd64Levels, "linux/386", "x386"],
  ["amd64Levels", amd64Levels.slice(2), "linux/amd64", undefined], // plain amd64 never takes v2/v3
  ["amd64Levels", amd64Levels.slice(3), "linux/amd64/v2", undefined], // v2 never takes v3
  ["only386", only386, "linux/amd64", "i386-b"],
  ["only386", only386, "linux/amd64/v3", "i386-b"],
  ["only386", only386, "linux/386", "i386-b"],
  ["only386", only386, "linux/arm/v7", undefined], // arm never takes arm64
  // arm ladders
  ["armLadder", armLadder, "linux/arm64", "arm-v8"],
  ["armLadder", armLadder, "linux/arm64/v9", "arm-v8"],
  ["armLadder", armLadder, "linux/arm64/v8.3", "arm-v8"],
  ["armLadder", armLadder, "linux/arm/v8", "arm-v8"],
  ["armLadder", armLadder, "linux/arm/v7", "arm-v7"],
  ["armLadder", armLadder, "linux/arm/v6", "arm-v6"],
  ["armLadder", armLadder, "linux/arm/v5", "arm-v5"],
  ["armLadder", armLadder, "linux/arm/v4", undefined],
  ["armOld", armOld, "linux/arm64", "old-v6"],
  ["armOld", armOld, "linux/arm/v8", "old-v6"],
  ["armOld", armOld, "linux/arm", "old-v6"],
  ["armOld", armOld, "linux/arm/v5", "old-v5"],
  ["armOld", armOld.slice(1), "linux/arm/v5", undefined], // v5 never takes v6
  ["armBare", armBare, "linux/arm/v7", "arm-bare"], // offered "arm" normalizes to arm/v7
  ["armBare", armBare.slice(1), "linux/armhf", "arm-7"],
  ["armBare", armBare, "linux/arm/v6", undefined],
  // arm64 variants
  ["arm64Variants", arm64Variants, "linux/arm64", "a64"],
  ["arm64Variants", arm64Variants, "linux/arm64/v8.0", "a64"],
  ["arm64Variants", arm64Variants, "linux/arm64/v8.1", "a64-v8.1"],
  ["arm64Variants", arm64Variants, "linux/arm64/v8.2", "a64-v8.1"],
  ["arm64Variants", arm64Variants, "linux/arm64/v8.6", "a64-v8.5"],
  ["arm64Variants", arm64Variants, "linux/arm64/v9", "a64-v9"],
  ["arm64Variants", arm64Variants, "linux/arm64/9.0", "a64-v9"],
  ["arm64Variants", arm64Variants, "linux/arm64/v9.1", "a64-v9"],
  ["arm64Variants", arm64Variants, "linux/arm64/v9.2", "a64-v9.2"],
  ["arm64Variants", arm64Variants, "linux/arm64/v9.3", "a64-v9.2"],
  ["arm64High", arm64High, "linux/arm64/v9", "hi-v8.5"], // v9.0 → v8.5
  ["arm64High", arm64High, "linux/arm64/v9.1", "hi-v8.6"], // v9.1 → v8.6
  ["arm64High", arm64High, "linux/arm64/v8.4", undefined], // v8.4 never takes v8.5
  ["arm64High", arm64High, "linux/arm64", undefined],
  ["arm64High", arm64High, "linux/arm64/v10", undefined], // not even the identical entry
  ["arm64Spellings", arm64Spellings, "linux/arm64", "sp-aarch64"],
  ["arm64Spellings", arm64Spellings.slice(1), "linux/aarch64", "sp-v8"],
  ["arm64Spellings", arm64Spellings.slice(2), "linux/arm64/v8", "sp-8"],
  // ties
  ["ties", ties, "linux/amd64", "tie-x86_64"],
  ["ties", ties.slice(2), "linux/amd64", "tie-amd64"],
  ["ties", ties, "darwin/arm64", "tie-mac"],
  ["ties", ties, "macos/arm64", "tie-mac"],
  ["ties", ties, "linux/ppc64le", "tie-ppc"],
  // never-matching entries
  ["neverMatch", neverMatch, "linux/amd64", undefined],
  ["attestationFirst", attestationFirst, "linux/amd64", "real-amd64"],
  ["attestationFirst", attestationFirst, "unknown/unknown", undefined],
  ["attestationFirst", attestationFirst, "windows/amd64", "win"],
  // windows os.version (containerd windowsVersionMatcher)
  ["windows", windows, "windows(10.0.17763)/amd64", "ltsc2019"],
  ["windows", windows, "windows(10.0.17763.6000)/amd64", "ltsc2019"],
  ["windows", windows, "windows(10.0.20348)/amd64", "ltsc2022"],
  ["windows", windows, "windows(10.0.26100)/amd64", "ltsc2022"], // newer host runs the ltsc2022 image, not ltsc2019
  ["windows", windows, "windows(10.0.19041)/amd64", undefined], // pre-2022 host needs its exact build
  ["windows", windows, "windows(6.3.9600)/amd64", undefined],
  ["windows", windows, "windows/amd64", "ltsc2019"], // no version wanted: any, index order
  ["windows", windows, "windows(garbage)/amd64", "ltsc2019"], // unparseable wanted version is ignored
  ["windows", windows, "linux/amd64", "linux-amd64"],
  ["windowsNoVersion", windowsNoVersion, "windows(10.0.17763)/amd64", "win-any"], // offered without version matches
];

describe("selectManifest", () => {
  it.each(selectRows)("%s: %s → %s", (_label, index, wanted, expected) => {
    expect(nameOf(selectManifest(index, parsePlatform(wanted)))).toBe(expected);
  });

  it("defaults to linux/amd64", () => {
    expect(nameOf(selectManifest(official))).toBe("amd64");
    expect(DEFAULT_PLATFORM).toEqual({ os: "linux", architecture: "amd64" });
    expect(Object.isFrozen(DEFAULT_PLATFORM)).toBe(true);
  });

  it("accepts a wanted platform that is not normalized", () => {
    expect(nameOf(selectManifest(official, { os: "Linux", architecture: "aarch64", variant: "8" }))).toBe("arm64v8");
  });

  it("returns undefined for an empty index", () => {
    expect(selectManifest([], DEFAULT_PLATFORM)).toBeUndefined();
  });
});

describe("matchingManifests and platformMatcher", () => {
  const rows: Array<[string, readonly Descriptor[], string, string[]]> = [
    ["official", official, "linux/arm64", ["arm64v8", "arm32v7", "arm32v6", "arm32v5"]],
    ["official", official, "linux/amd64", ["amd64", "i386"]],
    ["amd64Levels", amd64Levels, "linux/amd64/v3", ["amd64v3", "amd64v2", "amd64v1", "x386"]],
    ["ties", ties, "linux/amd64", ["tie-x86_64", "tie-amd64", "tie-amd64v1"]],
    ["neverMatch", neverMatch, "linux/amd64", []],
  ];
  it.each(rows)("%s: %s → %j", (_label, index, wanted, expected) => {
    expect(matchingManifests(index, parsePlatform(wanted)).map((d) => nameOf(d))).toEqual(expected);
  });

  const ranks: Array<[string, Platform, number | undefined]> = [
    ["linux/arm64/v9", p("linux", "arm64", "v9"), 0],
    ["linux/arm64/v9", p("linux", "arm64", "v8.5"), 1],
    ["linux/arm64/v9", p("linux", "aarch64"), 6],
    ["linux/arm64/v9", p("linux", "armhf"), 8],
    ["linux/arm64/v9", p("linux", "arm", "v5"), 10],
    ["linux/arm64/v9", p("linux", "arm64", "v9.1"), undefined],
    ["linux/amd64", p("linux", "i386"), 1],
    ["linux/amd64", p("linux", "amd64", "v2"), undefined],
    ["linux/amd64", p("unknown", "unknown"), undefined],
    ["unknown/unknown", p("unknown", "unknown"), undefined],
  ];
  it.each(ranks)("platformMatcher(%s).rank(%j) = %s", (wanted, offered, expected) => {
    expect(platformMatcher(parsePlatform(wanted)).rank(offered)).toBe(expected);
  });

  it("rankDescriptor refuses attestations and platform-less entries", () => {
    const matcher = platformMatcher(DEFAULT_PLATFORM);
    expect(matcher.rankDescriptor(desc("x", "linux/amd64"))).toBe(0);
    expect(matcher.rankDescriptor(desc("x", null))).toBeUndefined();
    expect(matcher.rankDescriptor(neverMatch[1]!)).toBeUndefined();
    expect(matcher.wanted).toEqual(DEFAULT_PLATFORM);
  });
});

describe("requireManifest", () => {
  it("returns the selected descriptor", () => {
    expect(nameOf(requireManifest(official, parsePlatform("linux/armhf")))).toBe("arm32v7");
  });

  it("throws PLATFORM_UNKNOWN 404 naming the platforms on offer (attestations excluded)", () => {
    const error = thrown(() => requireManifest(official, parsePlatform("linux/riscv64")));
    expect(error.code).toBe("PLATFORM_UNKNOWN");
    expect(error.status).toBe(404);
    expect(error.message).toBe(
      "no manifest for platform linux/riscv64; available: linux/amd64, linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm64, linux/386, linux/ppc64le, linux/s390x",
    );
    expect(error.message).not.toContain("unknown");
  });

  it("says so when the index offers no platform at all", () => {
    const error = thrown(() => requireManifest(neverMatch.filter((d) => d.platform?.os !== "windows"), DEFAULT_PLATFORM));
    expect(error.message).toBe("no manifest for platform linux/amd64; the index offers no platforms");
  });
});

// --- attestations and listing -----------------------------------------------

describe("isAttestation", () => {
  const rows: Array<[string, Descriptor, boolean]> = [
    ["annotated, unknown/unknown", attestation("a", "b"), true],
    ["annotated, no platform", attestation("a", "b", null), true],
    ["annotated, real platform", attestation("a", "b", "linux/amd64"), true],
    ["unknown/unknown without annotation", desc("a", "unknown/unknown"), true],
    ["Unknown/Unknown without annotation", desc("a", "Unknown/Unknown"), true],
    ["linux/unknown", desc("a", "linux/unknown"), false],
    ["unknown/amd64", desc("a", "unknown/amd64"), false],
    ["linux/amd64", desc("a", "linux/amd64"), false],
    ["no platform, no annotation", desc("a", null), false],
    ["other reference type", desc("a", "linux/amd64", { annotations: { "vnd.docker.reference.type": "signature" } }), false],
    ["digest annotation alone", desc("a", "linux/amd64", { annotations: { "vnd.docker.reference.digest": digestOf("b") } }), false],
  ];
  it.each(rows)("%s → %s", (_label, descriptor, expected) => {
    expect(isAttestation(descriptor)).toBe(expected);
  });
});

describe("listPlatforms", () => {
  it("splits platforms, attestations (with what they annotate) and other entries", () => {
    const nested = desc("nested", null, { mediaType: MediaType.OciIndex });
    const orphan = attestation("att-orphan", "missing");
    const bare = desc("att-bare", "unknown/unknown");
    const index = [...official, nested, orphan, bare];
    const listing = listPlatforms(index);

    expect(listing.platforms.map((entry) => [nameOf(entry.descriptor), formatPlatform(entry.platform)])).toEqual([
      ["amd64", "linux/amd64"],
      ["arm32v5", "linux/arm/v5"],
      ["arm32v6", "linux/arm/v6"],
      ["arm32v7", "linux/arm/v7"],
      ["arm64v8", "linux/arm64/v8"], // as offered, not normalized
      ["i386", "linux/386"],
      ["ppc64le", "linux/ppc64le"],
      ["s390x", "linux/s390x"],
    ]);
    expect(
      listing.attestations.map((entry) => [
        nameOf(entry.descriptor),
        entry.annotates,
        entry.annotatesPlatform ? formatPlatform(entry.annotatesPlatform) : undefined,
      ]),
    ).toEqual([
      ["att-amd64", digestOf("amd64"), "linux/amd64"],
      ["att-arm64v8", digestOf("arm64v8"), "linux/arm64/v8"],
      ["att-orphan", digestOf("missing"), undefined],
      ["att-bare", undefined, undefined],
    ]);
    expect(listing.attestations[3]).not.toHaveProperty("annotates");
    expect(listing.other.map((d) => nameOf(d))).toEqual(["nested"]);
  });

  it("is empty for an empty index", () => {
    expect(listPlatforms([])).toEqual({ platforms: [], attestations: [], other: [] });
  });
});

// --- nested indexes -----------------------------------------------------------

/** In-memory registry of index JSON documents; `load` parses them like a caller would. */
function fakeStore(indexes: Record<string, { mediaType?: string; manifests: Descriptor[] }>) {
  const docs = new Map<string, Uint8Array>();
  for (const [name, body] of Object.entries(indexes)) {
    const mediaType = body.mediaType ?? MediaType.OciIndex;
    docs.set(digestOf(name), new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType, manifests: body.manifests })));
  }
  const loads: string[] = [];
  const load = async (descriptor: Descriptor): Promise<readonly Descriptor[]> => {
    loads.push(NAMES.get(descriptor.digest) ?? descriptor.digest);
    const bytes = docs.get(descriptor.digest);
    if (!bytes) throw new OciError("MANIFEST_UNKNOWN", `no such index ${descriptor.digest}`);
    return parseManifest(bytes, descriptor.mediaType).manifests;
  };
  return { load, loads };
}

const idx = (name: string, spec: string | null, mediaType: string = MediaType.OciIndex) => desc(name, spec, { mediaType });

describe("resolvePlatformManifest (nested indexes, caller-supplied loader)", () => {
  const leafAmd64 = desc("leaf-amd64", "linux/amd64");
  const leafArm64 = desc("leaf-arm64", "linux/arm64");
  const leafArmV7 = desc("leaf-armv7", "linux/arm/v7");
  const leafWin = desc("leaf-win", "windows/amd64");

  const store = {
    "idx-amd64": { manifests: [leafAmd64, attestation("att-in-amd64", "leaf-amd64")] },
    "idx-arm": { mediaType: MediaType.DockerManifestList, manifests: [leafArmV7, leafArm64] },
    "idx-win": { manifests: [leafWin] },
    "idx-deep": { manifests: [idx("idx-deeper", null)] },
    "idx-deeper": { manifests: [idx("idx-arm", "linux/arm64", MediaType.DockerManifestList)] },
    "idx-self": { manifests: [idx("idx-self", "linux/amd64")] },
  };
  for (const name of Object.keys(store)) digestOf(name);

  const rows: Array<[string, Descriptor[], string, string | undefined, string[], string[]]> = [
    // [label, top-level manifests, wanted, expected leaf, expected via, expected loads]
    ["leaf in the top index", [leafAmd64, idx("idx-arm", "linux/arm64")], "linux/amd64", "leaf-amd64", [], []],
    [
      "platformed child index",
      [idx("idx-amd64", "linux/amd64"), idx("idx-arm", "linux/arm64", MediaType.DockerManifestList)],
      "linux/arm64",
      "leaf-arm64",
      ["idx-arm"],
      ["idx-arm"],
    ],
    [
      "arm/v7 fall-back inside a child",
      [idx("idx-arm", "linux/arm/v7", MediaType.DockerManifestList)],
      "linux/arm/v8",
      "leaf-armv7",
      ["idx-arm"],
      ["idx-arm"],
    ],
    [
      "platform-less child indexes are tried after platformed entries",
      [attestation("att-top", "idx-win"), idx("idx-win", null), idx("idx-amd64", null)],
      "linux/amd64",
      "leaf-amd64",
      ["idx-amd64"],
      ["idx-win", "idx-amd64"],
    ],
    [
      "best candidate's index holds no match: next candidate is tried",
      [idx("idx-win", "linux/amd64/v2"), leafAmd64],
      "linux/amd64/v2",
      "leaf-amd64",
      [],
      ["idx-win"],
    ],
    [
      "two levels of platform-less nesting",
      [idx("idx-deep", null)],
      "linux/arm64",
      "leaf-arm64",
      ["idx-deep", "idx-deeper", "idx-arm"],
      ["idx-deep", "idx-deeper", "idx-arm"],
    ],
    ["no match anywhere", [idx("idx-amd64", "linux/amd64"), idx("idx-win", null)], "linux/s390x", undefined, [], ["idx-win"]],
    ["platform-less image manifests never match", [desc("leaf-amd64", null)], "linux/amd64", undefined, [], []],
  ];

  it.each(rows)("%s", async (_label, top, wanted, expected, via, loads) => {
    const fake = fakeStore(store);
    const result = await resolvePlatformManifest(top, parsePlatform(wanted), fake.load);
    expect(result ? NAMES.get(result.descriptor.digest) : undefined).toBe(expected);
    if (result) expect(result.via.map((d) => NAMES.get(d.digest))).toEqual(via);
    expect(fake.loads).toEqual(loads);
  });

  it("throws MANIFEST_INVALID on an index that contains itself", async () => {
    const fake = fakeStore(store);
    await expect(resolvePlatformManifest([idx("idx-self", "linux/amd64")], DEFAULT_PLATFORM, fake.load)).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
      message: expect.stringContaining("contains itself"),
    });
  });

  it("throws MANIFEST_INVALID when nesting exceeds maxDepth", async () => {
    const fake = fakeStore(store);
    await expect(resolvePlatformManifest([idx("idx-deep", null)], parsePlatform("linux/arm64"), fake.load, { maxDepth: 2 })).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
      message: "indexes nest more than 2 levels deep",
    });
    // With one more level allowed it resolves.
    const ok = await resolvePlatformManifest([idx("idx-deep", null)], parsePlatform("linux/arm64"), fakeStore(store).load, { maxDepth: 3 });
    expect(ok && NAMES.get(ok.descriptor.digest)).toBe("leaf-arm64");
  });

  it("walks each distinct index once, however often it is listed", async () => {
    // chain-0 … chain-7, each listing the next one six times: 6^8 paths, 8 indexes.
    const chain: Record<string, { manifests: Descriptor[] }> = {};
    for (let i = 0; i < 8; i++) chain[`chain-${i}`] = { manifests: i < 7 ? Array.from({ length: 6 }, () => idx(`chain-${i + 1}`, null)) : [leafWin] };
    for (const name of Object.keys(chain)) digestOf(name);
    const fake = fakeStore(chain);
    const top = Array.from({ length: 6 }, () => idx("chain-0", null));
    expect(await resolvePlatformManifest(top, parsePlatform("linux/arm64"), fake.load, { maxDepth: 16 })).toBeUndefined();
    expect(fake.loads).toEqual(Object.keys(chain));
  });

  it("lets loader errors through", async () => {
    await expect(resolvePlatformManifest([idx("idx-missing", "linux/amd64")], DEFAULT_PLATFORM, fakeStore({}).load)).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
  });
});
