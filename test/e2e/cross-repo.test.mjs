// Copy between two Berth repositories (docker:// → docker://). skopeo knows (from its blob
// info cache, filled by the first push) that the layers live in the source repository, so it
// asks for cross-repository mounts: POST /v2/<dest>/blobs/uploads/?from=<src>&mount=<digest>.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, readLayout,
  compareLayouts, berthFetch, describe, sha256, withQuery, resolveLocation,
} from "./harness.mjs";

let images;
const src = uniqueRepo("mount-src");
const dst = uniqueRepo("mount-dst");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, dockerRef(src, "v1")]);
});

test("skopeo copy docker:// → docker:// mounts the layers from the other repository", async () => {
  const r = await skopeo(
    ["copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", dockerRef(src, "v1"), dockerRef(dst, "v1")],
    { debug: true },
  );
  const log = r.stderr;
  const layers = images.app.manifest.layers.map((l) => l.digest);
  for (const d of layers) {
    const q = `mount=${encodeURIComponent(d)}`;
    assert.ok(
      log.split("\n").some((l) => l.includes("Trying to mount") && l.includes(q) && l.includes(`from=${encodeURIComponent(src)}`)),
      `skopeo did not try to mount ${d} from ${src} (its blob info cache should know the location)`,
    );
    // the layer was not uploaded again: no final PUT ?digest= for it
    assert.ok(
      !log.split("\n").some((l) => /msg="PUT /.test(l) && l.includes(`digest=${encodeURIComponent(d)}`)),
      `layer ${d} was uploaded instead of mounted`,
    );
  }
  const ok = log.split("\n").filter((l) => l.includes("... mount OK")).length;
  assert.equal(ok, layers.length, `every layer mount succeeded (skopeo log: "... mount OK" × ${ok})`);
  assert.doesNotMatch(log, /mount failed|Error (trying|mounting)/i);
});

test("the mounted image pulls back identical", async () => {
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", dockerRef(dst, "v1"), `oci:${out}:v1`]);
  const { refs } = await readLayout(out);
  assert.equal(refs.get("v1")?.digest, images.app.digest);
  await compareLayouts(images.dir, out, images.app.descriptor);
});

test("POST ?mount=&from= answers 201 with Location and Docker-Content-Digest", async () => {
  const third = uniqueRepo("mount-api");
  const layer = images.layers.appBin.descriptor;
  const res = await berthFetch(`/v2/${third}/blobs/uploads/?mount=${encodeURIComponent(layer.digest)}&from=${encodeURIComponent(src)}`, {
    method: "POST",
  });
  assert.equal(res.status, 201, await describe(res.clone()));
  assert.equal(res.headers.get("docker-content-digest"), layer.digest);
  assert.ok(res.headers.get("location"), "Location header");
  const get = await berthFetch(`/v2/${third}/blobs/${layer.digest}`);
  assert.equal(get.status, 200, await describe(get.clone()));
  const body = Buffer.from(await get.arrayBuffer());
  assert.equal(sha256(body), layer.digest);
});

test("mount of a blob the source repository does not have falls back to an upload (202)", async () => {
  const other = uniqueRepo("mount-other");
  // the blob exists in `src`, but not in `other` — mounting from `other` must not succeed
  const layer = images.layers.appBin.descriptor;
  const res = await berthFetch(`/v2/${dst}/blobs/uploads/?mount=${encodeURIComponent(layer.digest)}&from=${encodeURIComponent(other)}`, {
    method: "POST",
  });
  assert.equal(res.status, 202, await describe(res.clone()));
  const loc = resolveLocation(res.headers.get("location"));
  // the fallback session is a real upload session: cancel it
  const del = await berthFetch(loc, { method: "DELETE" });
  assert.ok([204, 200, 202].includes(del.status), `cancel upload: ${await describe(del)}`);

  const unknown = "sha256:" + "1".repeat(64);
  const res2 = await berthFetch(withQuery(new URL(`/v2/${dst}/blobs/uploads/`, process.env.BERTH_URL).toString(), { mount: unknown, from: src }), {
    method: "POST",
  });
  assert.equal(res2.status, 202, `mount of an unknown blob: ${await describe(res2.clone())}`);
  assert.ok(res2.headers.get("location"), "fallback upload has a Location");
});
