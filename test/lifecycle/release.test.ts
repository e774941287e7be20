// Blob release and deletion: refcount 0 → the repository drops its link after
// the grace window → the blob index deletes the R2 object once no repository
// links it, again after the grace window. Alarms do the work.

import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, pushBlob, pushImage } from "../helpers";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { repositoryStub } from "../../src/registry/repository-do";
import { SEGMENT_BYTES } from "../../src/registry/segmented-object";
import { GRACE_MS, contentKeyOf, fsck, passGraceWindows, pullCompletely, sleep } from "./helpers";

async function stored(digest: string): Promise<boolean> {
  return (await env.BLOBS.head(contentKeyOf(digest))) !== null;
}

describe("blob release after the last reference goes", () => {
  it("keeps the blobs during the grace window, then the repository and the blob index let go in turn", async () => {
    const image = await pushImage("gc/basic", "v1", ["basic layer one", "basic layer two"]);
    const blobs = [image.config.digest, ...image.layers.map((l) => l.digest)];
    expect((await call("DELETE", `/v2/gc/basic/manifests/${image.digest}`)).status).toBe(202);

    // Within the grace window: still linked and stored.
    for (const digest of blobs) {
      expect((await call("HEAD", `/v2/gc/basic/blobs/${digest}`)).status).toBe(200);
      expect(await stored(digest)).toBe(true);
    }
    const pending = await repositoryStub(env, "gc/basic").pendingReleases();
    expect(pending.waiting).toBe(3);
    expect(pending.alarm).not.toBeNull();

    // The repository's alarm drops its links and releases the global ones.
    await sleep(GRACE_MS + 300);
    await runDurableObjectAlarm(repositoryStub(env, "gc/basic"));
    for (const digest of blobs) {
      expect((await call("HEAD", `/v2/gc/basic/blobs/${digest}`)).status).toBe(404);
      const record = await blobIndexStub(env, digest).describe();
      expect(record?.repositories).toEqual([]);
      expect(record?.unreferencedSince).not.toBeNull();
      expect(await stored(digest)).toBe(true); // the blob index waits its own grace window
    }
    expect(await repositoryStub(env, "gc/basic").pendingReleases()).toMatchObject({ waiting: 0, unlinking: 0 });

    await sleep(GRACE_MS + 300);
    for (const digest of blobs) await runDurableObjectAlarm(blobIndexStub(env, digest));
    for (const digest of blobs) {
      expect(await stored(digest)).toBe(false);
      expect(await blobIndexStub(env, digest).describe()).toBeNull();
    }
  });

  it("alarms fire on their own: deletion happens with nobody running them", async () => {
    const image = await pushImage("gc/self", "v1", ["self-driven layer"]);
    const layer = image.layers[0]!.digest;
    expect((await call("DELETE", `/v2/gc/self/manifests/${image.digest}`)).status).toBe(202);
    const deadline = Date.now() + 4 * GRACE_MS + 5000;
    while ((await stored(layer)) && Date.now() < deadline) await sleep(250);
    expect(await stored(layer)).toBe(false);
    expect(await stored(image.config.digest)).toBe(false);
  });

  it("re-referencing a blob inside the grace window cancels its release", async () => {
    const first = await pushImage("gc/again", "v1", ["again shared layer", "again first only"]);
    const shared = first.layers[0]!;
    expect((await call("DELETE", `/v2/gc/again/manifests/${first.digest}`)).status).toBe(202);
    // A second image reuses the layer without uploading it (HEAD said it exists).
    expect((await call("HEAD", `/v2/gc/again/blobs/${shared.digest}`)).status).toBe(200);
    const config = await pushBlob("gc/again", '{"architecture":"amd64","os":"linux","again":2}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...shared }],
    });
    const put = await call("PUT", "/v2/gc/again/manifests/v2", { body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
    expect(put.status).toBe(201);

    await passGraceWindows();
    await pullCompletely("gc/again", "v2");
    expect(await stored(shared.digest)).toBe(true);
    expect(await stored(first.layers[1]!.digest)).toBe(false);
    expect(await stored(first.config.digest)).toBe(false);
  });

  it("uploaded blobs no manifest ever references are released too", async () => {
    const orphan = await pushBlob("gc/orphan", "a layer whose manifest never came");
    expect(await stored(orphan.digest)).toBe(true);
    await passGraceWindows();
    expect((await call("HEAD", `/v2/gc/orphan/blobs/${orphan.digest}`)).status).toBe(404);
    expect(await stored(orphan.digest)).toBe(false);
  });

  it("explicit blob DELETE releases the global link once it is older than the grace window", async () => {
    const blob = await pushBlob("gc/explicit", "explicitly deleted blob");
    expect((await call("DELETE", `/v2/gc/explicit/blobs/${blob.digest}`)).status).toBe(202);
    expect((await call("HEAD", `/v2/gc/explicit/blobs/${blob.digest}`)).status).toBe(404);
    // The link was made just now, so the global release is deferred, not lost.
    expect((await repositoryStub(env, "gc/explicit").pendingReleases()).unlinking).toBe(1);
    expect((await blobIndexStub(env, blob.digest).describe())?.repositories).toEqual(["gc/explicit"]);
    await passGraceWindows();
    await passGraceWindows();
    expect(await stored(blob.digest)).toBe(false);
    expect((await fsck()).counts).toEqual({});
  });
});

describe("sharing", () => {
  it("the same layer in two repositories survives deleting it from one", async () => {
    const layers = ["two-repo shared base", "two-repo a only"];
    const a = await pushImage("share/a", "v1", layers);
    const b = await pushImage("share/b", "v1", [layers[0]!, "two-repo b only"]);
    const base = a.layers[0]!.digest;
    expect(b.layers[0]!.digest).toBe(base);
    expect((await blobIndexStub(env, base).describe())?.repositories).toEqual(["share/a", "share/b"]);

    expect((await call("DELETE", `/v2/share/a/manifests/${a.digest}`)).status).toBe(202);
    await passGraceWindows();

    expect((await blobIndexStub(env, base).describe())?.repositories).toEqual(["share/b"]);
    expect(await stored(base)).toBe(true);
    expect(await stored(a.layers[1]!.digest)).toBe(false);
    await pullCompletely("share/b", "v1");
    expect((await call("GET", "/v2/share/a/tags/list")).status).toBe(404);
  });

  it("a mounted layer counts for the repository it was mounted into", async () => {
    const source = await pushImage("share/src", "v1", ["mounted layer"]);
    const layer = source.layers[0]!;
    const mount = await call("POST", `/v2/share/dst/blobs/uploads/?mount=${layer.digest}&from=share/src`);
    expect(mount.status).toBe(201);
    await pushImage("share/dst", "v1", ["mounted layer"]); // its manifest references the mounted layer
    expect((await call("DELETE", `/v2/share/src/manifests/${source.digest}`)).status).toBe(202);
    await passGraceWindows();
    await pullCompletely("share/dst", "v1");
    expect(await stored(layer.digest)).toBe(true);
  });

  it("a blob stored in segments (a cache fill's) is deleted segment by segment, as is a duplicate copy", async () => {
    const digest = `sha256:${"5e".repeat(32)}`;
    const segmented = "fills/5e5e-test/fill-one/";
    const duplicate = "fills/5e5e-test/fill-two/";
    for (const key of [segmented, duplicate]) {
      await env.BLOBS.put(`${key}0`, new Uint8Array(SEGMENT_BYTES));
      await env.BLOBS.put(`${key}1`, new Uint8Array(10));
    }
    const index = blobIndexStub(env, digest);
    expect(await index.register(digest, segmented, SEGMENT_BYTES + 10, "seg/a")).toBe(segmented);
    // A second fill's copy is a duplicate: queued as a stray and deleted whole by the alarm.
    expect(await index.register(digest, duplicate, SEGMENT_BYTES + 10, "seg/b")).toBe(segmented);
    await sleep(GRACE_MS + 300);
    expect(await index.release("seg/a")).toBe("released");
    expect(await index.release("seg/b")).toBe("released");
    await sleep(GRACE_MS + 300);
    await runDurableObjectAlarm(index);
    expect((await env.BLOBS.list({ prefix: "fills/5e5e-test/" })).objects.map((o) => o.key)).toEqual([]);
    expect(await index.describe()).toBeNull();
  });
});
