// A push in flight — layers uploaded (or found by HEAD), manifest not yet
// PUT — must not lose its layers when their last other reference is deleted.
// Within the grace window the manifest PUT succeeds and the image stays
// whole; a push slower than the window fails cleanly and can re-upload.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, errorCode, pushBlob, pushImage } from "../helpers";
import { repositoryStub } from "../../src/registry/repository-do";
import { GRACE_MS, contentKeyOf, fsck, passGraceWindows, pullCompletely, runAlarms, sleep } from "./helpers";

async function stored(digest: string): Promise<boolean> {
  return (await env.BLOBS.head(contentKeyOf(digest))) !== null;
}

function manifestOf(config: { digest: string; size: number }, layers: { digest: string; size: number }[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
  });
}

function putManifest(name: string, tag: string, body: string): Promise<Response> {
  return call("PUT", `/v2/${name}/manifests/${tag}`, { body, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
}

describe("a push in flight", () => {
  it("to another repository keeps the layers it uploaded while their last other reference is deleted", async () => {
    const old = await pushImage("flight/src", "v1", ["in-flight layer"]);
    const layer = old.layers[0]!;
    // The push uploads its blobs…
    const config = await pushBlob("flight/dst", '{"architecture":"amd64","os":"linux","flight":1}');
    expect((await pushBlob("flight/dst", "in-flight layer")).digest).toBe(layer.digest);
    // …meanwhile the only image using the layer is deleted and its repository lets go.
    expect((await call("DELETE", `/v2/flight/src/manifests/${old.digest}`)).status).toBe(202);
    await sleep(GRACE_MS / 2);
    await runAlarms(env.REPOSITORY);
    // …and the push finishes within the window.
    expect((await putManifest("flight/dst", "v1", manifestOf(config, [layer]))).status).toBe(201);

    await passGraceWindows();
    await pullCompletely("flight/dst", "v1");
    expect(await stored(layer.digest)).toBe(true);
    expect((await call("HEAD", `/v2/flight/src/blobs/${layer.digest}`)).status).toBe(404);
  });

  it("in the same repository: a layer found by HEAD stays until the manifest PUT, even if its image is deleted meanwhile", async () => {
    const first = await pushImage("flight/same", "v1", ["same-repo layer"]);
    const layer = first.layers[0]!;
    expect((await call("HEAD", `/v2/flight/same/blobs/${layer.digest}`)).status).toBe(200); // the client skips the upload
    const config = await pushBlob("flight/same", '{"architecture":"amd64","os":"linux","same":2}');
    expect((await call("DELETE", `/v2/flight/same/manifests/${first.digest}`)).status).toBe(202);
    await sleep(GRACE_MS / 2);
    await runAlarms(env.REPOSITORY);
    expect((await putManifest("flight/same", "v2", manifestOf(config, [layer]))).status).toBe(201);
    await passGraceWindows();
    await pullCompletely("flight/same", "v2");
  });

  it("a HEAD restarts an unreferenced blob's window (a client that checked it will reference it)", async () => {
    const first = await pushImage("flight/touch", "v1", ["touched layer"]);
    const layer = first.layers[0]!;
    const config = await pushBlob("flight/touch", '{"architecture":"amd64","os":"linux","touch":3}');
    expect((await call("DELETE", `/v2/flight/touch/manifests/${first.digest}`)).status).toBe(202);
    await sleep(GRACE_MS * 0.6);
    for (const blob of [layer, config]) expect((await call("HEAD", `/v2/flight/touch/blobs/${blob.digest}`)).status).toBe(200);
    await sleep(GRACE_MS * 0.6); // past the window counted from the delete, inside the one counted from the HEAD
    await runAlarms(env.REPOSITORY);
    expect((await putManifest("flight/touch", "v2", manifestOf(config, [layer]))).status).toBe(201);
    await passGraceWindows();
    await pullCompletely("flight/touch", "v2");
  });

  it("a push slower than the grace window fails cleanly with MANIFEST_BLOB_UNKNOWN and succeeds after re-uploading", async () => {
    const first = await pushImage("flight/slow", "v1", ["slow push layer"]);
    const layer = first.layers[0]!;
    expect((await call("DELETE", `/v2/flight/slow/manifests/${first.digest}`)).status).toBe(202);
    await sleep(GRACE_MS + 300);
    await runAlarms(env.REPOSITORY);
    const config = await pushBlob("flight/slow", '{"architecture":"amd64","os":"linux","slow":4}');
    const late = await putManifest("flight/slow", "v2", manifestOf(config, [layer]));
    expect(late.status).toBe(400);
    expect(await errorCode(late)).toBe("MANIFEST_BLOB_UNKNOWN");
    expect((await call("HEAD", `/v2/flight/slow/blobs/${layer.digest}`)).status).toBe(404);
    // The client re-uploads (the bytes may still be in R2: register() reuses the stored copy).
    await pushBlob("flight/slow", "slow push layer");
    expect((await putManifest("flight/slow", "v2", manifestOf(config, [layer]))).status).toBe(201);
    await passGraceWindows();
    await pullCompletely("flight/slow", "v2");
    expect((await fsck()).counts).toEqual({});
    expect((await repositoryStub(env, "flight/slow").pendingReleases()).waiting).toBe(0);
  });
});
