// fsck: a clean registry reports zero problems; damage is found, dry runs
// change nothing, repair fixes counts and links; a small budget walks the
// registry in many resumable calls and finds the same.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, pushBlob, pushImage } from "../helpers";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { repositoryStub } from "../../src/registry/repository-do";
import { contentKeyOf, fsck, pullCompletely } from "./helpers";

describe("fsck", () => {
  it("reports zero problems for a clean registry, walking it whole with any budget", async () => {
    for (let i = 0; i < 3; i++) await pushImage(`fsck/clean-${i}`, "v1", ["fsck shared base", `fsck clean ${i}`]);
    await pushBlob("fsck/clean-0", "an upload that is still in its grace window");
    const whole = await fsck();
    expect(whole.counts).toEqual({});
    expect(whole.problems).toEqual([]);
    expect(whole.checked).toEqual({ repositories: 3, links: 10, objects: 8 });
    const paged = await fsck("n=1");
    expect(paged.counts).toEqual({});
    expect(paged.checked).toEqual(whole.checked);
  });

  it("finds a drifted count; a dry run leaves it, repair fixes it", async () => {
    const image = await pushImage("fsck/count", "v1", ["fsck counted layer"]);
    const layer = image.layers[0]!.digest;
    const repo = repositoryStub(env, "fsck/count");
    await runInDurableObject(repo, (_i, state) => state.storage.sql.exec("UPDATE blobs SET refcount = 7 WHERE digest = ?", layer));

    const found = await fsck();
    expect(found.counts).toEqual({ "refcount-mismatch": 1 });
    expect(found.problems[0]).toMatchObject({ kind: "refcount-mismatch", repository: "fsck/count", digest: layer, repairable: true, repaired: false });
    expect((await fsck("repair=1&dryRun=1")).counts).toEqual({ "refcount-mismatch": 1 });
    expect((await repo.statBlob(layer))?.refcount).toBe(7);

    const repaired = await fsck("repair=1");
    expect(repaired.problems[0]).toMatchObject({ kind: "refcount-mismatch", repaired: true });
    expect((await repo.statBlob(layer))?.refcount).toBe(1);
    expect((await fsck()).counts).toEqual({});
  });

  it("finds a link the blob index forgot (the blob could be deleted under a manifest) and restores it", async () => {
    const image = await pushImage("fsck/forgot", "v1", ["fsck forgotten link"]);
    const layer = image.layers[0]!.digest;
    await runInDurableObject(blobIndexStub(env, layer), (_i, state) => state.storage.sql.exec("DELETE FROM links"));
    expect((await fsck()).counts).toEqual({ "link-unknown-to-blob-index": 1 });
    await fsck("repair=1");
    expect((await blobIndexStub(env, layer).describe())?.repositories).toEqual(["fsck/forgot"]);
    expect((await fsck()).counts).toEqual({});
  });

  it("finds a blob missing from R2 and a tag pointing at nothing", async () => {
    const image = await pushImage("fsck/missing", "v1", ["fsck missing layer"]);
    const layer = image.layers[0]!;
    await env.BLOBS.delete(contentKeyOf(layer.digest));
    await runInDurableObject(repositoryStub(env, "fsck/missing"), (_i, state) =>
      state.storage.sql.exec("INSERT INTO tags (tag, digest, updated_at) VALUES ('ghost', 'sha256:' || hex(randomblob(32)), 0)"),
    );
    const found = await fsck();
    expect(found.counts).toEqual({ "missing-from-storage": 1, "tag-to-missing-manifest": 1 });
    expect(found.problems.find((p) => p.kind === "missing-from-storage")).toMatchObject({ digest: layer.digest, repairable: false });
    const repaired = await fsck("repair=1");
    expect(repaired.problems.find((p) => p.kind === "tag-to-missing-manifest")?.repaired).toBe(true);
    expect((await fsck()).counts).toEqual({ "missing-from-storage": 1 }); // bytes fsck cannot invent
    // Re-pushing the layer heals it.
    await pushBlob("fsck/missing", "fsck missing layer");
    expect((await fsck()).counts).toEqual({});
    await pullCompletely("fsck/missing", "v1");
  });

  it("finds a repository link whose key is not the canonical copy and points it at the canonical one", async () => {
    const image = await pushImage("fsck/key", "v1", ["fsck key layer"]);
    const layer = image.layers[0]!;
    await env.BLOBS.put("assembled/elsewhere", "fsck key layer");
    await repositoryStub(env, "fsck/key").linkBlob(layer.digest, layer.size, "assembled/elsewhere");
    expect((await fsck()).counts).toEqual({ "key-mismatch": 1 });
    await fsck("repair=1");
    expect((await repositoryStub(env, "fsck/key").statBlob(layer.digest))?.key).toBe(contentKeyOf(layer.digest));
    expect((await fsck()).counts).toEqual({});
    expect((await call("GET", `/v2/fsck/key/blobs/${layer.digest}`)).status).toBe(200);
  });
});
