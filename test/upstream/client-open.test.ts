// UpstreamClient against a real docker-registry (distribution 2.8.2), no auth, through a logging
// proxy: what it asks for, what it returns, and what it reports.
import { describe, expect, it } from "vitest";
import { UpstreamClient } from "../../src/upstream/client";
import { MemoryTokenCache } from "../../src/upstream/token-cache";
import { RecordingObserver, RequestLog, peers, sha256Hex, upstreamAt } from "./peers";

function openClient(observer = new RecordingObserver()) {
  return { observer, client: new UpstreamClient(upstreamAt(peers().open), { observer, tokenCache: new MemoryTokenCache() }) };
}

describe("UpstreamClient on an open registry", () => {
  it("HEADs a manifest by tag: digest, media type and size, with one HEAD and no GET", async () => {
    const { single } = peers().images;
    const { client, observer } = openClient();
    const log = await RequestLog.mark();
    const info = await client.headManifest("seed/single", "v1");
    expect(info).toEqual({ digest: single.digest, mediaType: single.mediaType, size: single.size });
    expect(await log.summary("seed/single")).toEqual(["open HEAD /v2/seed/single/manifests/v1"]);
    expect(observer.requests).toEqual(["head-manifest"]);
    expect(observer.rateLimits).toEqual([[100, 42, 21600]]);
    expect(observer.errors).toEqual([]);
  });

  it("GETs a manifest by tag and by digest, byte-exact and verified", async () => {
    const { single } = peers().images;
    const { client, observer } = openClient();
    const byTag = await client.getManifest("seed/single", "v1");
    expect(byTag).toMatchObject({ digest: single.digest, mediaType: single.mediaType, size: single.size });
    expect(byTag.bytes.byteLength).toBe(single.size);
    const byDigest = await client.getManifest("seed/single", single.digest);
    expect(byDigest.digest).toBe(single.digest);
    expect(byDigest.bytes).toEqual(byTag.bytes);
    const parsed = JSON.parse(new TextDecoder().decode(byTag.bytes)) as { layers: Array<{ digest: string }> };
    expect(parsed.layers.map((l) => l.digest)).toEqual(single.layers.map((l) => l.digest));
    expect(observer.requests).toEqual(["get-manifest", "get-manifest"]);
    expect(observer.bytes).toEqual([single.size, single.size]);
  });

  it("GETs a multi-arch index and its child manifests", async () => {
    const { multi } = peers().images;
    const { client } = openClient();
    const index = await client.getManifest("seed/multi", "v1");
    expect(index).toMatchObject({ digest: multi.digest, mediaType: "application/vnd.oci.image.index.v1+json", size: multi.size });
    const child = multi.manifests[1]!;
    expect(child.platform.architecture).toBe("arm64");
    const arm = await client.getManifest("seed/multi", child.digest);
    expect(arm).toMatchObject({ digest: child.digest, mediaType: child.mediaType, size: child.size });
  });

  it("asks for Docker schema 2 too (distribution would otherwise down-convert to schema 1)", async () => {
    const { docker } = peers().images;
    const { client } = openClient();
    expect(await client.headManifest("seed/docker", "v1")).toEqual({ digest: docker.digest, mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: docker.size });
    const manifest = await client.getManifest("seed/docker", "v1");
    expect(manifest.digest).toBe(docker.digest);
    expect(manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
  });

  it("streams a 3 MiB blob with Content-Length and Docker-Content-Digest, and counts its bytes", async () => {
    const big = peers().images.single.layers[0]!;
    expect(big.size).toBeGreaterThan(3 * 1024 * 1024);
    const { client, observer } = openClient();
    const log = await RequestLog.mark();
    const response = await client.getBlob("seed/single", big.digest);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe(String(big.size));
    expect(response.headers.get("docker-content-digest")).toBe(big.digest);
    expect(await sha256Hex(response.body!)).toEqual({ digest: big.digest, size: big.size });
    expect(observer.bytes).toEqual([big.size]);
    expect(observer.requests).toEqual(["get-blob"]);
    expect(await log.summary("seed/single")).toEqual(["open GET /v2/seed/single/blobs/<digest>"]);
  });

  it("HEADs a blob for its size without downloading it", async () => {
    const big = peers().images.single.layers[0]!;
    const { client, observer } = openClient();
    expect(await client.headBlob("seed/single", big.digest)).toEqual(big);
    expect(observer.requests).toEqual(["head-blob"]);
    expect(observer.bytes).toEqual([]);
    await expect(client.headBlob("seed/single", `sha256:${"0".repeat(64)}`)).rejects.toMatchObject({ code: "BLOB_UNKNOWN", status: 404 });
  });

  it("normalizes one-segment Docker Hub names to library/ (in the path it requests)", async () => {
    const { single } = peers().images;
    const client = new UpstreamClient(upstreamAt(peers().open, { name: "docker.io", dockerHub: true }), { tokenCache: new MemoryTokenCache() });
    const log = await RequestLog.mark();
    expect((await client.headManifest("alpine", "3")).digest).toBe(single.digest);
    expect(await log.summary("library/alpine")).toEqual(["open HEAD /v2/library/alpine/manifests/3"]);
  });

  it("rejects bad names and digests before sending anything", async () => {
    const { client, observer } = openClient();
    await expect(client.getManifest("Seed/Single", "v1")).rejects.toMatchObject({ code: "NAME_INVALID" });
    await expect(client.getManifest("seed/single", "bad tag")).rejects.toMatchObject({ code: "TAG_INVALID" });
    await expect(client.getBlob("seed/single", "sha256:nothex")).rejects.toMatchObject({ code: "DIGEST_INVALID", status: 400 });
    await expect(client.getManifest("../../etc", "v1")).rejects.toMatchObject({ code: "NAME_INVALID" });
    expect(observer.requests).toEqual([]);
    expect(observer.errors).toEqual([]);
  });
});
