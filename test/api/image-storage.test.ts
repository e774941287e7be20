// GET /api/v1/repositories/<name>/images/<digest>: blobs shared with other images and
// repositories, and the bytes a delete would free — checked against what the lifecycle
// really deletes after the delete and the grace windows.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, pushBlob } from "../helpers";
import type { BlobUse } from "../../src/api/image-storage";
import { bucketKeys, contentKeyOf, passGraceWindows } from "../lifecycle/helpers";
import { apiError, entryOf, pushIndex, pushPlatformImage } from "./fixtures";

interface StorageAnswer {
  repository: string;
  digest: string;
  isIndex: boolean;
  blobs: BlobUse[];
  listedBy: { digest: string; tags: string[] }[];
  wouldFree: { bytes: number; blobs: number; note: string };
}

async function storage(name: string, digest: string): Promise<StorageAnswer> {
  const response = await call("GET", `/api/v1/repositories/${name}/images/${digest}`);
  if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
  return (await response.json()) as StorageAnswer;
}

const amd64 = { os: "linux", architecture: "amd64" };

describe("image storage", () => {
  it("marks blobs shared with another image and another repository, and frees only the rest", async () => {
    const shared = "storage shared base layer";
    const app = await pushPlatformImage("storage/app", "v1", amd64, "app v1", { layers: [shared, "storage app v1 own layer"] });
    const sibling = await pushPlatformImage("storage/app", "v2", amd64, "app v2", { layers: [shared, "storage app v2 own layer"] });
    // Another repository holds the v1 image's own layer too.
    await pushBlob("storage/other", "storage app v1 own layer");
    await pushPlatformImage("storage/other", "x", amd64, "other", { layers: ["storage app v1 own layer"] });

    const answer = await storage("storage/app", app.digest);
    expect(answer.isIndex).toBe(false);
    expect(answer.blobs.map((b) => [b.role, b.digest])).toEqual([
      ["config", app.config.digest],
      ["layer", app.layers[0]!.digest],
      ["layer", app.layers[1]!.digest],
    ]);
    const [config, base, own] = answer.blobs as [BlobUse, BlobUse, BlobUse];
    expect(base).toMatchObject({ imageCount: 1, images: [{ digest: sibling.digest, tags: ["v2"] }], repositoryCount: 0, freedByDelete: false });
    expect(own).toMatchObject({ imageCount: 0, repositories: ["storage/other"], repositoryCount: 1, freedByDelete: false });
    expect(config).toMatchObject({ imageCount: 0, repositoryCount: 0, freedByDelete: true });
    expect(answer.wouldFree).toMatchObject({ bytes: app.config.size, blobs: 1 });

    // Delete it and let the lifecycle run: exactly the blobs said to be freed are gone.
    const before = new Set(await bucketKeys("blobs/"));
    expect((await call("DELETE", `/v2/storage/app/manifests/${app.digest}`)).status).toBe(202);
    await passGraceWindows();
    const after = new Set(await bucketKeys("blobs/"));
    const deleted = [...before].filter((key) => !after.has(key));
    expect(deleted).toEqual([contentKeyOf(app.config.digest)]);
    expect(await env.BLOBS.head(contentKeyOf(base.digest))).not.toBeNull();
  });

  it("frees nothing for a manifest an index lists, and says why", async () => {
    const image = await pushPlatformImage("storage/multi", undefined, amd64, "multi amd64");
    const index = await pushIndex("storage/multi", "v1", [entryOf(image)]);
    const child = await storage("storage/multi", image.digest);
    expect(child.listedBy).toEqual([{ digest: index.digest, tags: ["v1"] }]);
    expect(child.wouldFree).toMatchObject({ bytes: 0, blobs: 0 });
    expect(child.wouldFree.note).toMatch(/delete the index first/);
    const top = await storage("storage/multi", index.digest);
    expect(top).toMatchObject({ isIndex: true, blobs: [], wouldFree: { bytes: 0 } });
  });

  it("answers 404 for an unknown manifest and 400 for a bad digest", async () => {
    await pushPlatformImage("storage/known", "v1", amd64, "known");
    const missing = await call("GET", `/api/v1/repositories/storage/known/images/sha256:${"0".repeat(64)}`);
    expect(missing.status).toBe(404);
    expect((await apiError(missing)).code).toBe("MANIFEST_UNKNOWN");
    const bad = await call("GET", "/api/v1/repositories/storage/known/images/sha256:nothex");
    expect(bad.status).toBe(400);
    expect((await apiError(bad)).code).toBe("DIGEST_INVALID");
  });
});
