// Image lifecycle with real clients: skopeo pushes two images that share a base layer,
// `skopeo delete` removes one, and the other still pulls completely and bit-identical.
// On Berth: the deleted image's own layers stay during the grace window (a push in
// flight could still reference them), the shared one stays for good, fsck finds no
// problems, the tag history records the delete and usage shows what awaits release.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, readLayout, compareLayouts, berthFetch, describe,
} from "./harness.mjs";

const berth = process.env.BERTH_E2E_TARGET !== "distribution";
let images;
const repo = uniqueRepo("lifecycle");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  for (const ref of ["app", "tool"]) {
    await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:${ref}`, dockerRef(repo, ref)]);
  }
});

async function pullAndCompare(ref, image) {
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", dockerRef(repo, ref), `oci:${out}:${ref}`]);
  const pulled = (await readLayout(out)).refs.get(ref);
  assert.equal(pulled?.digest, image.digest, `pulled ${ref} digest`);
  return compareLayouts(images.dir, out, image.descriptor);
}

test("the two images share the base layer", () => {
  const layersOf = (image) => image.manifest.layers.map((l) => l.digest);
  const shared = layersOf(images.app).filter((d) => layersOf(images.tool).includes(d));
  assert.deepEqual(shared, [images.layers.base.descriptor.digest]);
});

test("skopeo delete removes one image; the other still pulls completely", async () => {
  await skopeo(["delete", "--tls-verify=false", dockerRef(repo, "tool")]);
  const gone = await skopeo(["inspect", "--tls-verify=false", dockerRef(repo, "tool")], { allowFail: true });
  assert.notEqual(gone.code, 0, "the deleted image must not resolve");

  assert.equal(await pullAndCompare("app", images.app), 1 + 1 + 3, "manifest + config + 3 layers identical");
  const base = images.layers.base.descriptor;
  const res = await berthFetch(`/v2/${repo}/blobs/${base.digest}`);
  assert.equal(res.status, 200, await describe(res.clone()));
  assert.equal(Buffer.from(await res.arrayBuffer()).length, base.size);
});

test("Berth: the deleted image's own layer waits out the grace window; fsck is clean", { skip: !berth && "Berth-only API" }, async () => {
  const own = images.layers.toolLayer.descriptor;
  const head = await berthFetch(`/v2/${repo}/blobs/${own.digest}`, { method: "HEAD" });
  assert.equal(head.status, 200, "unreferenced, but inside the grace window");

  const usage = await berthFetch(`/api/v1/repositories/${repo}/usage?fresh=1`);
  assert.equal(usage.status, 200, await describe(usage.clone()));
  const figures = await usage.json();
  assert.equal(figures.manifests, 1);
  assert.ok(figures.unreferencedBytes >= own.size, `unreferenced bytes ${figures.unreferencedBytes} include the tool layer`);

  const history = await berthFetch(`/api/v1/repositories/${repo}/history?tag=tool`);
  assert.equal(history.status, 200, await describe(history.clone()));
  const moves = (await history.json()).history;
  assert.deepEqual(moves.map((m) => [m.action, m.previousDigest, m.newDigest]), [
    ["removed", images.tool.digest, null],
    ["created", null, images.tool.digest],
  ]);

  // fsck over the whole registry (every e2e test's state), following its cursor.
  let cursor = null;
  const problems = [];
  for (let round = 0; round < 1000; round++) {
    const res = await berthFetch(`/api/v1/admin/fsck${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`, { method: "POST" });
    assert.equal(res.status, 200, await describe(res.clone()));
    const report = await res.json();
    problems.push(...report.problems);
    if (report.complete) break;
    cursor = report.cursor;
  }
  assert.deepEqual(problems, [], JSON.stringify(problems.slice(0, 5), null, 2));
});
