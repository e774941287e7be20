// Pull-through cache against a real upstream: docker-registry (CNCF distribution 2.8) on
// 127.0.0.1 over plain http, configured as the upstream "upstream.test" of a second
// `wrangler dev` started by this file (--var UPSTREAMS / DEFAULT_UPSTREAM). Images are pulled
// through Berth with skopeo and compared bit for bit; a tag moved upstream is seen after its
// TTL; cached content keeps being served after the upstream is gone.
// Runs only with --target=wrangler (it needs to start its own Berth).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  makeTempDir, buildTestImages, skopeo, readLayout, compareLayouts, sha256, MANIFEST_ACCEPT, describe,
} from "./harness.mjs";
import { startWrangler, startDistribution } from "../../scripts/e2e.mjs";

const target = process.env.BERTH_E2E_TARGET ?? "wrangler";
const skip = target !== "wrangler" && `needs to start its own wrangler dev (target is ${target})`;

const UPSTREAM = "upstream.test";
const TTL_SECONDS = 2;
let upstream;
let berth;
let images;

before(async () => {
  if (skip) return;
  upstream = await startDistribution({ workDir: makeTempDir("berth-upstream-"), tls: false });
  const config = [{ name: UPSTREAM, url: upstream.url, allowPrivateAddresses: true, tagTtlSeconds: TTL_SECONDS }];
  berth = await startWrangler({
    workDir: makeTempDir("berth-cache-"),
    extraArgs: ["--var", `UPSTREAMS:${JSON.stringify(config)}`, "--var", `DEFAULT_UPSTREAM:${UPSTREAM}`],
  });
  images = await buildTestImages(makeTempDir("berth-src-"));
  const push = (args, ref, dest) => skopeo(["copy", ...args, "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:${ref}`, `docker://${upstream.host}/${dest}`]);
  await push([], "app", "e2e/app:v1");
  await push([], "app", "e2e/app:moving");
  await push(["--all"], "multi", "e2e/multi:v1");
});

after(async () => {
  await berth?.stop();
  await upstream?.stop();
});

const viaBerth = (path) => `docker://${berth.host}/${UPSTREAM}/${path}`;
const fetchBerth = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });

async function pullToLayout(src, ref, extra = []) {
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", ...extra, "--preserve-digests", "--src-tls-verify=false", src, `oci:${out}:${ref}`]);
  const { refs } = await readLayout(out);
  return { out, digest: refs.get(ref)?.digest };
}

test("an image pulled through the cache is bit-identical to the upstream's", { skip }, async () => {
  const { out, digest } = await pullToLayout(viaBerth("e2e/app:v1"), "v1");
  assert.equal(digest, images.app.digest);
  assert.equal(await compareLayouts(images.dir, out, images.app.descriptor), 5);
  // a second pull is served too (now from the cache)
  const again = await pullToLayout(viaBerth("e2e/app:v1"), "v1");
  assert.equal(again.digest, images.app.digest);
  await compareLayouts(images.dir, again.out, images.app.descriptor);
});

test("a multi-arch index pulled through the cache with --all is identical", { skip }, async () => {
  const r = await skopeo(["inspect", "--raw", "--tls-verify=false", viaBerth("e2e/multi:v1")]);
  assert.ok(Buffer.from(r.stdout).equals(images.multi.indexBytes), "index bytes");
  const { out, digest } = await pullToLayout(viaBerth("e2e/multi:v1"), "multi", ["--all"]);
  assert.equal(digest, images.multi.digest);
  await compareLayouts(images.dir, out, images.multi.descriptor);
});

test("a tag moved upstream is served with its new digest after the TTL", { skip }, async () => {
  const head = async () => {
    const res = await fetchBerth(`/v2/${UPSTREAM}/e2e/app/manifests/moving`, { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(res.status, 200, `HEAD moving: ${res.status}`);
    return res.headers.get("docker-content-digest");
  };
  assert.equal(await head(), images.app.digest);
  // move the tag upstream to another image
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:tool`, `docker://${upstream.host}/e2e/app:moving`]);
  await new Promise((r) => setTimeout(r, (TTL_SECONDS + 1) * 1000));
  assert.equal(await head(), images.tool.digest, "revalidated after the TTL");
  const { out, digest } = await pullToLayout(viaBerth("e2e/app:moving"), "moving");
  assert.equal(digest, images.tool.digest);
  await compareLayouts(images.dir, out, images.tool.descriptor);
});

test("cached blobs are served byte-exact with Content-Length", { skip }, async () => {
  const layer = images.layers.appBin.descriptor;
  const res = await fetchBerth(`/v2/${UPSTREAM}/e2e/app/blobs/${layer.digest}`, { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.status, 200, await describe(res.clone()));
  assert.equal(res.headers.get("content-length"), String(layer.size));
  assert.equal(res.headers.get("docker-content-digest"), layer.digest);
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), layer.digest);
});

test("with the upstream gone, cached images still pull (by digest and by tag)", { skip }, async () => {
  await upstream.stop();
  const byDigest = await pullToLayout(`docker://${berth.host}/${UPSTREAM}/e2e/app@${images.app.digest}`, "bydigest");
  assert.equal(byDigest.digest, images.app.digest);
  await compareLayouts(images.dir, byDigest.out, images.app.descriptor);

  const platform = images.platforms.arm64;
  const child = await pullToLayout(`docker://${berth.host}/${UPSTREAM}/e2e/multi@${platform.digest}`, "arm64");
  assert.equal(child.digest, platform.digest);

  // the tag's TTL has long expired: revalidation fails, the cached (stale) manifest is served
  const byTag = await pullToLayout(viaBerth("e2e/app:v1"), "v1");
  assert.equal(byTag.digest, images.app.digest);
});

test("a name the upstream never had answers 404 (or 502 with the upstream gone), never 500", { skip }, async () => {
  const res = await fetchBerth(`/v2/${UPSTREAM}/e2e/nothing-here/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.ok([404, 502, 503].includes(res.status), `status ${res.status}: ${await describe(res.clone())}`);
  const body = await res.json();
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, "OCI error body");
});
