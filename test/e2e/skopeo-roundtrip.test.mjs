// skopeo copy oci:layout → docker://BERTH/repo:tag → oci:layout2; the image comes back
// bit-identical (same manifest digest, same blob files), including a layer shared by two
// images, a manifest without a top-level mediaType, and an image made by umoci.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  requireTarget, makeTempDir, buildTestImages, buildUmociImage, skopeo, dockerRef, uniqueRepo,
  readLayout, compareLayouts, sha256, sha256File, blobPath, berthFetch, MANIFEST_ACCEPT, describe,
} from "./harness.mjs";

let images;
const repo = uniqueRepo("roundtrip");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
});

/** Push `ref` from the source layout with skopeo; return the digest skopeo reports. */
async function push(srcDir, ref, destRef, extra = []) {
  const digestFile = join(makeTempDir("berth-digest-"), "digest");
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", "--digestfile", digestFile, ...extra, `oci:${srcDir}:${ref}`, destRef]);
  return (await readFile(digestFile, "utf8")).trim();
}

async function pull(srcRef, destDir, ref) {
  await skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", srcRef, `oci:${destDir}:${ref}`]);
  const { refs } = await readLayout(destDir);
  const d = refs.get(ref);
  assert.ok(d, `pulled layout has no ref ${ref}`);
  return d;
}

test("push an OCI image and pull it back bit-identical", async () => {
  const pushed = await push(images.dir, "app", dockerRef(repo, "app"));
  assert.equal(pushed, images.app.digest, "digest of the pushed manifest");

  const out = makeTempDir("berth-pull-");
  const pulled = await pull(dockerRef(repo, "app"), out, "app");
  assert.equal(pulled.digest, images.app.digest, "pulled manifest digest");
  const n = await compareLayouts(images.dir, out, images.app.descriptor);
  assert.equal(n, 1 + 1 + 3, "manifest + config + 3 layers compared");

  // the manifest bytes came back exactly as pushed
  const got = await readFile(blobPath(out, pulled.digest));
  assert.ok(got.equals(images.app.manifestBytes), "manifest bytes identical");
});

test("registry serves the manifest byte-exact with Docker-Content-Digest and Content-Length", async () => {
  const res = await berthFetch(`/v2/${repo}/manifests/app`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(res.status, 200, await describe(res.clone()));
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(sha256(body), images.app.digest);
  assert.equal(res.headers.get("docker-content-digest"), images.app.digest);
  assert.equal(res.headers.get("content-length"), String(body.length));
  assert.match(res.headers.get("content-type") ?? "", /^application\/vnd\.oci\.image\.manifest\.v1\+json/);
});

test("second image sharing a layer; manifest without mediaType stays identical", async () => {
  const base = images.layers.base.descriptor.digest;
  assert.ok(images.tool.manifest.layers.some((l) => l.digest === base), "tool shares the base layer");
  assert.equal(images.tool.manifest.mediaType, undefined, "tool manifest has no top-level mediaType");

  // Before the second push the shared layer is already in the repository.
  const head = await berthFetch(`/v2/${repo}/blobs/${base}`, { method: "HEAD" });
  assert.equal(head.status, 200, "shared layer present after the first push");
  assert.equal(head.headers.get("content-length"), String(images.layers.base.descriptor.size));

  const pushed = await push(images.dir, "tool", dockerRef(repo, "tool"));
  assert.equal(pushed, images.tool.digest, "no conversion to another manifest format");

  const out = makeTempDir("berth-pull-");
  const pulled = await pull(dockerRef(repo, "tool"), out, "tool");
  assert.equal(pulled.digest, images.tool.digest);
  await compareLayouts(images.dir, out, images.tool.descriptor);

  // and the first image is untouched
  const out2 = makeTempDir("berth-pull-");
  const again = await pull(dockerRef(repo, "app"), out2, "app");
  assert.equal(again.digest, images.app.digest);
  await compareLayouts(images.dir, out2, images.app.descriptor);
});

test("blob GET is byte-exact with Content-Length and Docker-Content-Digest", async () => {
  const layer = images.layers.appBin.descriptor;
  const res = await berthFetch(`/v2/${repo}/blobs/${layer.digest}`, { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.status, 200, await describe(res.clone()));
  assert.equal(res.headers.get("content-length"), String(layer.size), "Content-Length present and exact");
  assert.equal(res.headers.get("content-encoding"), null, "blob not re-encoded for Accept-Encoding: gzip");
  assert.equal(res.headers.get("docker-content-digest"), layer.digest);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(sha256(body), layer.digest);
  const src = await sha256File(blobPath(images.dir, layer.digest));
  assert.equal(src.size, body.length);
});

test("image built by umoci round-trips", async () => {
  const src = makeTempDir("berth-umoci-layout-");
  const u = await buildUmociImage(join(src, "layout"), "v1");
  const pushed = await push(u.dir, "v1", dockerRef(repo, "umoci-v1"));
  assert.equal(pushed, u.manifestDigest);
  const out = makeTempDir("berth-pull-");
  const pulled = await pull(dockerRef(repo, "umoci-v1"), out, "v1");
  assert.equal(pulled.digest, u.manifestDigest);
  const n = await compareLayouts(u.dir, out, u.descriptor);
  assert.ok(n >= 3, `compared ${n} blobs`);
});

test("pull by digest", async () => {
  const out = makeTempDir("berth-pull-");
  const pulled = await pull(dockerRef(repo, images.app.digest), out, "bydigest");
  assert.equal(pulled.digest, images.app.digest);
  await compareLayouts(images.dir, out, images.app.descriptor);
});
