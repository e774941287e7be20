// Multi-arch OCI index (linux/amd64, linux/arm64, linux/arm/v7) with skopeo copy --all,
// platform selection with --override-arch/--override-variant, and raw index bytes.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, readLayout,
  compareLayouts, sha256, blobPath, berthFetch, MT, describe,
} from "./harness.mjs";

let images;
const repo = uniqueRepo("multiarch");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  const digestFile = join(makeTempDir("berth-digest-"), "digest");
  await skopeo([
    "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--digestfile", digestFile,
    `oci:${images.dir}:multi`, dockerRef(repo, "multi"),
  ]);
  assert.equal((await readFile(digestFile, "utf8")).trim(), images.multi.digest, "skopeo pushed the index unchanged");
});

test("inspect --raw returns the index bytes exactly as pushed", async () => {
  const r = await skopeo(["inspect", "--raw", "--tls-verify=false", dockerRef(repo, "multi")]);
  const raw = Buffer.from(r.stdout, "utf8");
  assert.equal(sha256(raw), images.multi.digest, "digest of the raw bytes");
  assert.ok(raw.equals(images.multi.indexBytes), "raw index bytes identical");
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.mediaType, MT.index);
  assert.equal(doc.manifests.length, 3);
});

test("the index is served with its media type and digest", async () => {
  const res = await berthFetch(`/v2/${repo}/manifests/multi`, { headers: { Accept: `${MT.index}, ${MT.manifest}` } });
  assert.equal(res.status, 200, await describe(res.clone()));
  assert.match(res.headers.get("content-type") ?? "", /^application\/vnd\.oci\.image\.index\.v1\+json/);
  assert.equal(res.headers.get("docker-content-digest"), images.multi.digest);
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(images.multi.indexBytes));
});

for (const [arch, variant, key] of [
  ["arm64", null, "arm64"],
  ["amd64", null, "amd64"],
  ["arm", "v7", "arm-v7"],
]) {
  const platformArgs = ["--override-os", "linux", "--override-arch", arch, ...(variant ? ["--override-variant", variant] : [])];
  test(`--override-arch ${arch}${variant ? ` --override-variant ${variant}` : ""} selects the ${key} manifest`, async () => {
    const want = images.platforms[key];
    // skopeo 1.9 `inspect` reports the digest of the top-level manifest (the index) and the
    // architecture, layers and config of the platform it selected from it.
    const r = await skopeo([...platformArgs, "inspect", "--tls-verify=false", dockerRef(repo, "multi")]);
    const info = JSON.parse(r.stdout);
    assert.equal(info.Digest, images.multi.digest, "inspect's Digest is the index digest");
    assert.equal(info.Architecture, arch);
    assert.equal(info.Os, "linux");
    // (skopeo 1.9's inspect output has no Variant field; the config label below tells arm/v7 apart)
    assert.deepEqual(info.Layers, want.manifest.layers.map((l) => l.digest), "layers of the selected platform");
    assert.equal(info.Labels?.["org.berth.e2e"], `multi-${key}`, "config of the selected platform");

    const cfg = await skopeo([...platformArgs, "inspect", "--config", "--raw", "--tls-verify=false", dockerRef(repo, "multi")]);
    assert.equal(sha256(Buffer.from(cfg.stdout)), want.configDescriptor.digest, "config blob of the selected platform");

    // copying the single platform yields exactly that platform's manifest digest
    const out = makeTempDir("berth-pull-");
    await skopeo([...platformArgs, "copy", "--preserve-digests", "--src-tls-verify=false", dockerRef(repo, "multi"), `oci:${out}:${key}`]);
    const { refs } = await readLayout(out);
    assert.equal(refs.get(key)?.digest, want.digest, `the ${key} manifest digest`);
    await compareLayouts(images.dir, out, want.descriptor);
  });
}

test("each child manifest is pullable by digest and byte-identical", async () => {
  for (const [key, img] of Object.entries(images.platforms)) {
    const r = await skopeo(["inspect", "--raw", "--tls-verify=false", dockerRef(repo, img.digest)]);
    assert.ok(Buffer.from(r.stdout).equals(img.manifestBytes), `${key} manifest bytes`);
  }
});

test("copy --all back to an OCI layout gives identical blobs for every platform", async () => {
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", dockerRef(repo, "multi"), `oci:${out}:multi`]);
  const { refs } = await readLayout(out);
  assert.equal(refs.get("multi")?.digest, images.multi.digest);
  const n = await compareLayouts(images.dir, out, images.multi.descriptor);
  // index + 3 × (manifest + config + own layer) + shared base layer
  assert.equal(n, 1 + 3 * 3 + 1);
  const idx = await readFile(blobPath(out, images.multi.digest));
  assert.ok(idx.equals(images.multi.indexBytes));
});
