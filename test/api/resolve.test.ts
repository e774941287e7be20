import { describe, expect, it } from "vitest";
import { call, pushImage } from "../helpers";
import type { Resolution } from "../../src/api/image-lookup";
import { apiError, DOCKER_LIST, entryOf, OCI_INDEX, OCI_MANIFEST, pushIndex, pushMultiArch, pushPlatformImage } from "./fixtures";

const HOST = "berth.test";

async function resolve(query: string, init: RequestInit = {}): Promise<Response> {
  return call("GET", `/api/v1/resolve?${query}`, init);
}

async function resolved(query: string): Promise<Resolution> {
  const response = await resolve(query);
  if (response.status !== 200) throw new Error(`resolve ${query}: ${response.status} ${await response.text()}`);
  expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
  return (await response.json()) as Resolution;
}

const q = (ref: string, extra: Record<string, string> = {}) => new URLSearchParams({ ref, ...extra }).toString();

describe("resolve: single-arch hosted image", () => {
  it("answers digest, platform, config, layers, total size and a pinned reference", async () => {
    const image = await pushImage("api/single", "v1", ["layer-a", "layer-bb"]);
    const answer = await resolved(q(`${HOST}/api/single:v1`));
    expect(answer).toMatchObject({
      reference: `${HOST}/api/single:v1`,
      normalized: `${HOST}/api/single:v1`,
      normalizations: [],
      repository: { name: "api/single", kind: "hosted" },
      tag: "v1",
      digest: image.digest,
      mediaType: OCI_MANIFEST,
      size: image.bytes.length,
      isIndex: false,
      platform: { requested: null, wanted: "linux/amd64", default: true, chosen: "linux/amd64", matched: true },
      platforms: [{ platform: "linux/amd64", os: "linux", architecture: "amd64", digest: image.digest, mediaType: OCI_MANIFEST }],
      attestations: [],
      pinned: `${HOST}/api/single@${image.digest}`,
    });
    expect(answer.platform.note).toContain("default linux/amd64");
    expect(answer.manifest).toEqual({
      digest: image.digest,
      mediaType: OCI_MANIFEST,
      size: image.bytes.length,
      platform: "linux/amd64",
      platformDetail: { architecture: "amd64", os: "linux" },
      via: [],
      config: { digest: image.config.digest, size: image.config.size, mediaType: "application/vnd.oci.image.config.v1+json" },
      layers: image.layers.map((l) => ({ ...l, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" })),
      totalSize: image.config.size + "layer-a".length + "layer-bb".length,
      pinned: `${HOST}/api/single@${image.digest}`,
    });
  });

  it("finds a hosted repository for a reference without host, and says so", async () => {
    const image = await pushImage("api/nohost", "v2", ["x"]);
    const answer = await resolved(q("api/nohost:v2"));
    expect(answer.digest).toBe(image.digest);
    expect(answer.repository).toMatchObject({ name: "api/nohost", kind: "hosted" });
    expect(answer.repository.route).toContain("hosted here");
    expect(answer.normalized).toBe(`${HOST}/api/nohost:v2`);
    expect(answer.normalizations[0]).toContain(`hosted here (${HOST})`);
    expect(answer.pinned).toBe(`${HOST}/api/nohost@${image.digest}`);
  });

  it("treats localhost and 127.0.0.1 with this Berth's port as this Berth, and pins with the host asked for", async () => {
    const image = await pushImage("api/alias", "v1", ["x"]);
    for (const host of ["localhost", "127.0.0.1", "BERTH.test"]) {
      const answer = await resolved(q(`${host}/api/alias:v1`));
      expect(answer.digest).toBe(image.digest);
      expect(answer.repository.kind).toBe("hosted");
      expect(answer.pinned).toBe(`${host.toLowerCase()}/api/alias@${image.digest}`);
    }
    // A different port is another registry.
    const other = await resolve(q("localhost:5000/api/alias:v1"));
    expect(other.status).toBe(404);
    expect((await apiError(other)).code).toBe("NAME_UNKNOWN");
  });

  it("adds the default tag latest and reports it", async () => {
    const image = await pushImage("api/latest", "latest", ["x"]);
    const answer = await resolved(q(`${HOST}/api/latest`));
    expect(answer.tag).toBe("latest");
    expect(answer.digest).toBe(image.digest);
    expect(answer.normalizations).toEqual(["added default tag latest"]);
  });

  it("resolves name@digest and name:tag@digest by the digest", async () => {
    const image = await pushImage("api/bydigest", "v1", ["x"]);
    await pushImage("api/bydigest", "v2", ["y"]);
    const byDigest = await resolved(q(`${HOST}/api/bydigest@${image.digest}`));
    expect(byDigest).toMatchObject({ tag: null, digest: image.digest, pinned: `${HOST}/api/bydigest@${image.digest}` });
    // The digest pins; the tag (which points elsewhere) is only reported.
    const both = await resolved(q(`${HOST}/api/bydigest:v2@${image.digest}`));
    expect(both).toMatchObject({ tag: "v2", digest: image.digest, normalized: `${HOST}/api/bydigest:v2@${image.digest}` });
  });

  it("reads Docker schema 2 images and their configs", async () => {
    const image = await pushPlatformImage("api/docker2", "v1", { os: "linux", architecture: "arm64" }, "docker2", { docker: true });
    const answer = await resolved(q(`${HOST}/api/docker2:v1`, { platform: "linux/arm64" }));
    expect(answer.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(answer.manifest.platform).toBe("linux/arm64");
    expect(answer.manifest.config?.digest).toBe(image.config.digest);
  });

  it("answers a single-platform image that does not match the default platform, saying it does not match", async () => {
    const image = await pushPlatformImage("api/armonly", "v1", { os: "linux", architecture: "arm64" }, "armonly");
    const answer = await resolved(q(`${HOST}/api/armonly:v1`));
    expect(answer.digest).toBe(image.digest);
    expect(answer.platform).toMatchObject({ default: true, wanted: "linux/amd64", chosen: "linux/arm64", matched: false });
    expect(answer.platform.note).toContain("does not match");
  });
});

describe("resolve: multi-arch index", () => {
  it("lists platforms and attestations, and chooses linux/amd64 by default", async () => {
    const multi = await pushMultiArch("api/multi", "v1");
    const answer = await resolved(q(`${HOST}/api/multi:v1`));
    expect(answer).toMatchObject({
      digest: multi.index.digest,
      mediaType: OCI_INDEX,
      isIndex: true,
      pinned: `${HOST}/api/multi@${multi.index.digest}`,
      platform: { requested: null, wanted: "linux/amd64", default: true, chosen: "linux/amd64", matched: true },
    });
    expect(answer.platforms.map((p) => [p.platform, p.digest])).toEqual([
      ["linux/amd64", multi.amd64.digest],
      ["linux/arm64", multi.arm64.digest],
      ["linux/arm/v7", multi.armv7.digest],
    ]);
    expect(answer.attestations).toEqual([
      { digest: multi.attestations[0]!.digest, mediaType: OCI_MANIFEST, size: multi.attestations[0]!.size, annotates: multi.amd64.digest, platform: "linux/amd64" },
      { digest: multi.attestations[1]!.digest, mediaType: OCI_MANIFEST, size: multi.attestations[1]!.size, annotates: multi.arm64.digest, platform: "linux/arm64" },
    ]);
    expect(answer.manifest).toMatchObject({
      digest: multi.amd64.digest,
      platform: "linux/amd64",
      via: [],
      config: { digest: multi.amd64.config.digest },
      layers: multi.amd64.layers,
      pinned: `${HOST}/api/multi@${multi.amd64.digest}`,
    });
    expect(answer.manifest.totalSize).toBe(multi.amd64.config.size + multi.amd64.layers.reduce((s, l) => s + l.size, 0));
  });

  it.each([
    ["linux/arm64", "arm64"],
    ["linux/arm64/v8", "arm64"],
    ["linux/aarch64", "arm64"],
    ["Linux/ARM64", "arm64"],
    ["linux/arm/v7", "armv7"],
    ["linux/arm", "armv7"],
    ["linux/armhf", "armv7"],
    ["linux/arm/v8", "armv7"],
    ["linux/amd64", "amd64"],
    ["linux/x86_64", "amd64"],
    ["linux/amd64/v3", "amd64"],
  ] as const)("platform=%s chooses the %s manifest", async (platform, key) => {
    const multi = await pushMultiArch("api/choose", "v1");
    const answer = await resolved(q(`${HOST}/api/choose:v1`, { platform }));
    expect(answer.digest).toBe(multi.index.digest);
    expect(answer.manifest.digest).toBe(multi[key].digest);
    expect(answer.manifest.config?.digest).toBe(multi[key].config.digest);
    expect(answer.platform).toMatchObject({ requested: platform, default: false, matched: true });
  });

  it("falls back: arm64 takes arm/v7 and amd64 takes 386 when nothing better is offered", async () => {
    const armv7 = await pushPlatformImage("api/fallback", undefined, { os: "linux", architecture: "arm", variant: "v7" }, "fb-armv7");
    const i386 = await pushPlatformImage("api/fallback", undefined, { os: "linux", architecture: "386" }, "fb-386");
    await pushIndex("api/fallback", "v1", [entryOf(i386), entryOf(armv7)]);
    expect((await resolved(q(`${HOST}/api/fallback:v1`, { platform: "linux/arm64" }))).manifest.digest).toBe(armv7.digest);
    expect((await resolved(q(`${HOST}/api/fallback:v1`))).manifest.digest).toBe(i386.digest);
    expect((await resolved(q(`${HOST}/api/fallback:v1`, { platform: "linux/amd64/v2" }))).manifest.digest).toBe(i386.digest);
  });

  it("takes the first entry in index order among equally good ones", async () => {
    const first = await pushPlatformImage("api/ties", undefined, { os: "linux", architecture: "amd64" }, "tie-1");
    const second = await pushPlatformImage("api/ties", undefined, { os: "linux", architecture: "amd64" }, "tie-2");
    await pushIndex("api/ties", "v1", [entryOf(first), entryOf(second)]);
    expect((await resolved(q(`${HOST}/api/ties:v1`))).manifest.digest).toBe(first.digest);
    await pushIndex("api/ties", "v2", [entryOf(second), entryOf(first)]);
    expect((await resolved(q(`${HOST}/api/ties:v2`))).manifest.digest).toBe(second.digest);
  });

  it("never chooses an attestation, even for platform unknown/unknown", async () => {
    const multi = await pushMultiArch("api/attest", "v1");
    const response = await resolve(q(`${HOST}/api/attest:v1`, { platform: "unknown/unknown" }));
    expect(response.status).toBe(404);
    const error = await apiError(response);
    expect(error.code).toBe("PLATFORM_UNKNOWN");
    expect(error.detail).toMatchObject({ platform: "unknown/unknown", available: ["linux/amd64", "linux/arm64", "linux/arm/v7"], attestations: 2 });
    expect(multi.attestations).toHaveLength(2);
  });

  it("walks nested indexes, platform-less or not, and reports the indexes it went through", async () => {
    const amd64 = await pushPlatformImage("api/nested", undefined, { os: "linux", architecture: "amd64" }, "n-amd64");
    const arm64 = await pushPlatformImage("api/nested", undefined, { os: "linux", architecture: "arm64" }, "n-arm64");
    const s390x = await pushPlatformImage("api/nested", undefined, { os: "linux", architecture: "s390x" }, "n-s390x");
    const innerArm = await pushIndex("api/nested", undefined, [entryOf(arm64)]);
    const innerS390x = await pushIndex("api/nested", undefined, [entryOf(s390x)]);
    // arm64 sits in a child index that carries a platform; s390x in one without.
    const top = await pushIndex("api/nested", "v1", [
      entryOf(amd64),
      { mediaType: OCI_INDEX, digest: innerArm.digest, size: innerArm.size, platform: { os: "linux", architecture: "arm64" } },
      { mediaType: OCI_INDEX, digest: innerS390x.digest, size: innerS390x.size },
    ]);
    const arm = await resolved(q(`${HOST}/api/nested:v1`, { platform: "linux/arm64" }));
    expect(arm).toMatchObject({ digest: top.digest, manifest: { digest: arm64.digest, platform: "linux/arm64", via: [innerArm.digest] } });
    const s390 = await resolved(q(`${HOST}/api/nested:v1`, { platform: "linux/s390x" }));
    expect(s390.manifest).toMatchObject({ digest: s390x.digest, via: [innerS390x.digest], config: { digest: s390x.config.digest } });
    expect(s390.other).toEqual([{ digest: innerS390x.digest, mediaType: OCI_INDEX, size: innerS390x.size }]);
    const amd = await resolved(q(`${HOST}/api/nested:v1`));
    expect(amd.manifest).toMatchObject({ digest: amd64.digest, via: [] });

    const missing = await resolve(q(`${HOST}/api/nested:v1`, { platform: "linux/ppc64le" }));
    expect(missing.status).toBe(404);
    const error = await apiError(missing);
    expect(error.code).toBe("PLATFORM_UNKNOWN");
    // The platforms inside the platform-less nested index are named too.
    expect((error.detail as { available: string[] }).available).toEqual(["linux/amd64", "linux/arm64", "linux/s390x"]);
  });

  it("walks each distinct index once: a chain of indexes listing the next one many times answers at once", async () => {
    const leaf = await pushPlatformImage("api/chain", undefined, { os: "linux", architecture: "arm64" }, "chain-arm64");
    let next: { mediaType: string; digest: string; size: number }[] = [entryOf(leaf)];
    for (let level = 0; level < 7; level++) {
      const index = await pushIndex("api/chain", undefined, next);
      next = Array.from({ length: 20 }, () => ({ mediaType: OCI_INDEX, digest: index.digest, size: index.size }));
    }
    await pushIndex("api/chain", "v1", next);
    // 20^7 paths lead through 7 indexes: walking paths instead of indexes would not end.
    const started = Date.now();
    const missing = await resolve(q(`${HOST}/api/chain:v1`, { platform: "linux/s390x" }));
    expect(missing.status).toBe(404);
    expect((await apiError(missing)).code).toBe("PLATFORM_UNKNOWN");
    const found = await resolved(q(`${HOST}/api/chain:v1`, { platform: "linux/arm64" }));
    expect(found.manifest.digest).toBe(leaf.digest);
    expect(found.manifest.via).toHaveLength(7);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("caps the manifests one request reads, with a clear error", async () => {
    // 120 distinct platform-less child indexes, none with a match: more than one request reads.
    const empty = [];
    for (let i = 0; i < 120; i++) {
      const child = await pushIndex("api/wide", undefined, [], OCI_INDEX, { annotations: { n: String(i) } });
      empty.push({ mediaType: OCI_INDEX, digest: child.digest, size: child.size });
    }
    await pushIndex("api/wide", "v1", empty);
    const res = await resolve(q(`${HOST}/api/wide:v1`, { platform: "linux/s390x" }));
    expect(res.status).toBe(422);
    const error = await apiError(res);
    expect(error.code).toBe("UNSUPPORTED");
    expect(error.message).toContain("more than 100 manifests");
    const inspected = await call("GET", `/api/v1/inspect?${q(`${HOST}/api/wide:v1`, { platform: "linux/s390x" })}`);
    expect(inspected.status).toBe(422);
  });

  it("reads Docker manifest lists", async () => {
    const amd64 = await pushPlatformImage("api/list", undefined, { os: "linux", architecture: "amd64" }, "l-amd64", { docker: true });
    const arm = await pushPlatformImage("api/list", undefined, { os: "linux", architecture: "arm", variant: "v6" }, "l-armv6", { docker: true });
    const list = await pushIndex("api/list", "v1", [entryOf(amd64), entryOf(arm)], DOCKER_LIST);
    const answer = await resolved(q(`${HOST}/api/list:v1`, { platform: "linux/armel" }));
    expect(answer).toMatchObject({ digest: list.digest, mediaType: DOCKER_LIST, isIndex: true, manifest: { digest: arm.digest, platform: "linux/arm/v6" } });
  });
});

describe("resolve: format=digest", () => {
  it("answers the digest the reference points to, or the platform's manifest when a platform is given", async () => {
    const multi = await pushMultiArch("api/format", "v1");
    const plain = await resolve(q(`${HOST}/api/format:v1`, { format: "digest" }));
    expect(plain.status).toBe(200);
    expect(plain.headers.get("Content-Type")).toMatch(/^text\/plain/);
    expect(await plain.text()).toBe(`${multi.index.digest}\n`);
    const arm = await resolve(q(`${HOST}/api/format:v1`, { format: "digest", platform: "linux/arm/v7" }));
    expect(await arm.text()).toBe(`${multi.armv7.digest}\n`);
    const bad = await resolve(q(`${HOST}/api/format:v1`, { format: "xml" }));
    expect(bad.status).toBe(400);
    expect((await apiError(bad)).message).toContain("format=digest");
  });
});

describe("resolve: caching headers", () => {
  it("marks answers about a digest immutable with the digest as ETag, and answers 304 to If-None-Match", async () => {
    const image = await pushImage("api/cache", "v1", ["x"]);
    const first = await resolve(q(`${HOST}/api/cache@${image.digest}`));
    expect(first.status).toBe(200);
    expect(first.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(first.headers.get("ETag")).toBe(`"${image.digest}"`);
    await first.arrayBuffer();
    const again = await resolve(q(`${HOST}/api/cache@${image.digest}`), { headers: { "If-None-Match": `"${image.digest}"` } });
    expect(again.status).toBe(304);
    expect(again.headers.get("ETag")).toBe(`"${image.digest}"`);
    expect(await again.text()).toBe("");
    const text = await resolve(q(`${HOST}/api/cache@${image.digest}`, { format: "digest" }), { headers: { "If-None-Match": `W/"other", "${image.digest}"` } });
    expect(text.status).toBe(304);
  });

  it("gives tag answers a short max-age and an ETag that changes when the tag moves", async () => {
    await pushImage("api/cachetag", "v1", ["one"]);
    const first = await resolve(q(`${HOST}/api/cachetag:v1`));
    expect(first.headers.get("Cache-Control")).toBe("public, max-age=30, must-revalidate");
    const etag = first.headers.get("ETag");
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    await first.arrayBuffer();
    const same = await resolve(q(`${HOST}/api/cachetag:v1`), { headers: { "If-None-Match": etag! } });
    expect(same.status).toBe(304);
    expect(same.headers.get("Cache-Control")).toBe("public, max-age=30, must-revalidate");

    await pushImage("api/cachetag", "v1", ["two"]);
    const moved = await resolve(q(`${HOST}/api/cachetag:v1`), { headers: { "If-None-Match": etag! } });
    expect(moved.status).toBe(200);
    expect(moved.headers.get("ETag")).not.toBe(etag);
    await moved.arrayBuffer();
    // Different representations of the same tag have different ETags.
    const digestOnly = await resolve(q(`${HOST}/api/cachetag:v1`, { format: "digest" }), { headers: { "If-None-Match": moved.headers.get("ETag")! } });
    expect(digestOnly.status).toBe(200);
  });
});

describe("resolve: errors", () => {
  it.each([
    ["", 400, "REFERENCE_INVALID", "missing image reference"],
    [q("   "), 400, "REFERENCE_INVALID", "missing image reference"],
    [q("Api/Upper:v1"), 400, "REFERENCE_INVALID", "must be lowercase"],
    [q("api/x:"), 400, "REFERENCE_INVALID", "tag after \":\" is empty"],
    [q("api/x:bad*tag"), 400, "REFERENCE_INVALID", "tag \"bad*tag\" is invalid"],
    [q("api/x@sha256:abc"), 400, "REFERENCE_INVALID", "invalid sha256 digest"],
    [q(`${"a".repeat(64)}`), 400, "REFERENCE_INVALID", "image ID"],
    [q(`${HOST}/api/err:v1`, { platform: "linux" }), 400, "PLATFORM_UNKNOWN", "use os/arch"],
    [q(`${HOST}/api/err:v1`, { platform: "linux/arm64/v8/x" }), 400, "PLATFORM_UNKNOWN", "use os/arch"],
    [q(`${HOST}/api/err:v1`, { platform: "linux/s390x" }), 404, "PLATFORM_UNKNOWN", "is a single-platform image for linux/amd64"],
    [q(`${HOST}/api/err:nope`), 404, "MANIFEST_UNKNOWN", "tag nope is unknown in repository api/err"],
    [q(`${HOST}/api/err@sha256:${"0".repeat(64)}`), 404, "MANIFEST_UNKNOWN", `manifest sha256:${"0".repeat(64)} is unknown`],
    [q(`${HOST}/api/never-pushed:v1`), 404, "NAME_UNKNOWN", "repository api/never-pushed is unknown"],
    [q("registry.example.com:5000/team/app:v1"), 404, "NAME_UNKNOWN", "registry.example.com:5000"],
    [q("registry.example.com/team/app:v1"), 404, "NAME_UNKNOWN", "is unknown (no upstream is configured for registry.example.com"],
  ])("?%s → %i %s", async (query, status, code, words) => {
    await pushImage("api/err", "v1", ["x"]);
    const response = await resolve(query);
    expect(response.status).toBe(status);
    const error = await apiError(response);
    expect(error.code).toBe(code);
    expect(error.message).toContain(words);
  });

  it("names the platforms on offer when the platform is unknown", async () => {
    await pushMultiArch("api/unknownplatform", "v1");
    const response = await resolve(q(`${HOST}/api/unknownplatform:v1`, { platform: "windows/amd64" }));
    expect(response.status).toBe(404);
    const error = await apiError(response);
    expect(error.code).toBe("PLATFORM_UNKNOWN");
    expect(error.message).toContain("no manifest for platform windows/amd64; available: linux/amd64, linux/arm64, linux/arm/v7");
    expect(error.detail).toEqual({ platform: "windows/amd64", available: ["linux/amd64", "linux/arm64", "linux/arm/v7"], attestations: 2 });
  });

  it("answers only GET on the API paths", async () => {
    const response = await call("POST", `/api/v1/resolve?${q("x")}`);
    expect(response.status).toBe(404);
  });
});
