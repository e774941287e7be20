// skopeo push with --dest-compress of an image whose layers are uncompressed: skopeo gzips
// them on the fly, so each layer arrives as ONE PATCH with Transfer-Encoding: chunked and no
// Content-Length. A recording proxy checks that this is really what was sent.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, readLayout, readBlob,
  blobPath, sha256File, sha256Gunzipped, startRecordingProxy, MT,
} from "./harness.mjs";

let images;
let proxy;
const repo = uniqueRepo("compress");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  proxy = await startRecordingProxy();
});

after(async () => {
  await proxy?.close();
});

let pushedDigest;

test("skopeo --dest-compress pushes uncompressed layers as chunked PATCHes", async () => {
  assert.ok(images.plain.manifest.layers.every((l) => l.mediaType === MT.layerTar), "source layers are uncompressed");
  const digestFile = join(makeTempDir("berth-digest-"), "digest");
  await skopeo([
    "copy", "--dest-compress", "--dest-compress-format", "gzip", "--dest-tls-verify=false", "--digestfile", digestFile,
    `oci:${images.dir}:plain`, `docker://${proxy.host}/${repo}:gz`,
  ]);
  pushedDigest = (await readFile(digestFile, "utf8")).trim();
  assert.notEqual(pushedDigest, images.plain.digest, "the manifest changed (layers were compressed)");

  const patches = proxy.requests.filter((r) => r.method === "PATCH");
  const chunked = patches.filter((r) => r.headers["content-length"] === undefined && /chunked/i.test(r.headers["transfer-encoding"] ?? ""));
  assert.ok(
    chunked.length >= images.plain.manifest.layers.length,
    `expected ≥${images.plain.manifest.layers.length} PATCHes without Content-Length through the proxy; saw ${patches.length} PATCHes: ` +
      JSON.stringify(patches.map((p) => ({ cl: p.headers["content-length"], te: p.headers["transfer-encoding"] }))) +
      (patches.length === 0 ? " (does the registry send absolute Locations that bypass the Host header?)" : ""),
  );
});

test("the compressed image pulls back and its layers gunzip to the original diff_ids", async () => {
  assert.ok(pushedDigest, "push test did not complete");
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", dockerRef(repo, "gz"), `oci:${out}:gz`]);
  const { refs } = await readLayout(out);
  assert.equal(refs.get("gz")?.digest, pushedDigest, "pulled manifest = pushed manifest");
  const manifest = JSON.parse((await readBlob(out, pushedDigest)).toString("utf8"));
  assert.equal(manifest.config.digest, images.plain.configDescriptor.digest, "config unchanged");
  const diffIds = images.plain.config.rootfs.diff_ids;
  assert.equal(manifest.layers.length, diffIds.length);
  for (const [i, l] of manifest.layers.entries()) {
    assert.equal(l.mediaType, MT.layerGzip);
    const f = await sha256File(blobPath(out, l.digest));
    assert.equal(f.digest, l.digest, `layer ${i} bytes`);
    assert.equal(f.size, l.size, `layer ${i} size`);
    assert.equal((await sha256Gunzipped(blobPath(out, l.digest))).digest, diffIds[i], `layer ${i} content`);
  }
});
