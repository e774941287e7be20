// Docker Hub mirror mode: a second wrangler dev started by this file with the same upstreams
// and MIRROR_MODE=true, DEFAULT_UPSTREAM=docker.io (here the open registry under Docker Hub's
// name). Un-prefixed names are hosted repositories first; what Berth does not host is read
// through docker.io, with library/ added to one-segment names — the requests dockerd makes with
// `registry-mirrors`. containerd's ?ns= picks a configured upstream; an ns that names no
// configured upstream is never read from Docker Hub.
// Runs only with --target=wrangler (it starts its own Berth).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { MANIFEST_ACCEPT, compareLayouts, makeTempDir, readLayout, sha256, skopeo } from "./harness.mjs";
import { UpstreamLog, buildImage, freshRepo, pushUpstream, short, upstreamPeers as peers, upstreamSkip } from "./upstream.mjs";
import { startWrangler, upstreamVars } from "../../scripts/e2e.mjs";

const skip = upstreamSkip || (process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev");
let berth;

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING mirror mode tests: ${skip} ***\n`);
  berth = await startWrangler({ workDir: makeTempDir("berth-mirror-"), extraArgs: upstreamVars(peers, { mirrorMode: true }) });
});

after(async () => {
  await berth?.stop();
});

const fetchBerth = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });
const ACCEPT = { Accept: MANIFEST_ACCEPT };

async function pull(path, extra = []) {
  const out = makeTempDir("berth-mirror-pull-");
  await skopeo(["copy", ...extra, "--src-tls-verify=false", `docker://${berth.host}/${path}`, `oci:${out}:pulled`]);
  return { out, descriptor: (await readLayout(out)).refs.get("pulled") };
}

test("an un-prefixed name is read through the default upstream (dockerd registry-mirrors)", { skip }, async () => {
  const log = await UpstreamLog.mark();
  const { out, descriptor } = await pull("library/alpine:3");
  assert.equal(descriptor.digest, peers.images.single.digest);
  assert.equal(await compareLayouts(peers.layout, out, peers.images.single), 4);
  const lines = await log.summary();
  assert.ok(lines.includes("open GET /v2/library/alpine/manifests/3"), lines.join("\n"));
  assert.equal(lines.length, 4, "one GET for the manifest and for each of its three blobs");

  // one-segment names get library/; the cache is the same as /v2/docker.io/library/alpine
  const again = await UpstreamLog.mark();
  for (const path of ["/v2/alpine/manifests/3", "/v2/docker.io/library/alpine/manifests/3", "/v2/docker.io/alpine/manifests/3"]) {
    const response = await fetchBerth(path, { headers: ACCEPT });
    assert.equal(response.status, 200, path);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), peers.images.single.digest, path);
  }
  assert.deepEqual(await again.summary(), [], "all served from the same cached repository");
});

test("hosted repositories come first, pushes to un-prefixed names are hosted, nothing reaches the upstream", { skip }, async () => {
  const img = await buildImage({ label: "mirror-hosted" });
  const repo = freshRepo("mirror-hosted");
  const log = await UpstreamLog.mark();
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${berth.host}/${repo}:v1`]);
  const { out, descriptor } = await pull(`${repo}:v1`);
  assert.equal(descriptor.digest, img.image.digest);
  await compareLayouts(img.dir, out, img.image.descriptor);
  assert.deepEqual(await log.summary(), [], "the hosted image never touched the upstream");

  // a hosted name shadows the upstream's: library/alpine pushed here wins over Docker Hub's
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${berth.host}/library/alpine:shadow`]);
  const shadow = await fetchBerth("/v2/library/alpine/manifests/shadow", { headers: ACCEPT });
  assert.equal(shadow.status, 200);
  assert.equal(shadow.headers.get("docker-content-digest"), img.image.digest);
});

test("pushing layers the cache already holds under the same name uploads them to the hosted repository", { skip }, async () => {
  // library/alpine:3 was pulled through the cache above, so its layers sit in docker.io/library/alpine.
  // The client HEADs each layer before uploading: the answer must be the hosted repository's (404),
  // or the client skips the upload and the manifest PUT fails with MANIFEST_BLOB_UNKNOWN.
  const log = await UpstreamLog.mark();
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${peers.layout}:single`, `docker://${berth.host}/library/alpine:own`]);
  const own = await fetchBerth("/v2/library/alpine/manifests/own", { headers: ACCEPT });
  assert.equal(own.status, 200);
  assert.equal(own.headers.get("docker-content-digest"), peers.images.single.digest);
  await own.arrayBuffer();
  assert.deepEqual(await log.summary(), [], "a push makes no upstream request");
});

test("a blob HEAD answers for the hosted repository; a blob GET reads through the cache", { skip }, async () => {
  const arm = peers.images.multi.manifests[1];
  const manifest = await fetchBerth(`/v2/seed/multi/manifests/${arm.digest}`, { headers: ACCEPT });
  assert.equal(manifest.status, 200);
  await manifest.arrayBuffer();
  const layer = arm.layers[1];
  const log = await UpstreamLog.mark();
  const head = await fetchBerth(`/v2/seed/multi/blobs/${layer.digest}`, { method: "HEAD" });
  assert.equal(head.status, 404, "a blob HEAD is a pushing client's question about the hosted repository");
  assert.deepEqual(await log.summary(), [], "and starts no upstream fetch");
  const get = await fetchBerth(`/v2/seed/multi/blobs/${layer.digest}`);
  assert.equal(get.status, 200, "a blob GET (a pull) reads through the cache");
  assert.equal(sha256(Buffer.from(await get.arrayBuffer())), layer.digest);
  assert.deepEqual(await log.summary(), [`open GET /v2/seed/multi/blobs/${short(layer.digest)}`]);
});

test("a blob of one hosted repository is not read through another un-prefixed name, nor mounted from it", { skip }, async () => {
  const img = await buildImage({ label: "mirror-private", bigBytes: 64 * 1024 });
  const owner = freshRepo("mirror-owner");
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${berth.host}/${owner}:v1`]);
  const other = freshRepo("mirror-other");
  const thief = freshRepo("mirror-thief");
  const log = await UpstreamLog.mark();
  for (const blob of img.blobs) {
    for (const method of ["GET", "HEAD"]) {
      const response = await fetchBerth(`/v2/${other}/blobs/${blob.digest}`, { method });
      assert.equal(response.status, 404, `${method} through the un-prefixed name ${other}`);
      await response.arrayBuffer();
    }
    const mount = await fetchBerth(`/v2/${thief}/blobs/uploads/?mount=${blob.digest}&from=${other}`, { method: "POST" });
    assert.equal(mount.status, 202, "the mount falls back to an upload");
    await fetchBerth(new URL(mount.headers.get("location"), berth.url), { method: "DELETE" });
    assert.equal((await fetchBerth(`/v2/${thief}/blobs/${blob.digest}`, { method: "HEAD" })).status, 404);
  }
  const lines = await log.summary(other);
  assert.deepEqual(lines, img.blobs.map((b) => `open HEAD /v2/${other}/blobs/${short(b.digest)}`), "a GET falls back to the cache, which asks the upstream's word (a HEAD) and gets 404");
});

test("a name neither hosted nor upstream answers 404 with the upstream's words", { skip }, async () => {
  const response = await fetchBerth(`/v2/${freshRepo("nowhere")}/manifests/v1`, { headers: ACCEPT });
  assert.equal(response.status, 404);
  const body = await response.json();
  assert.equal(body.errors[0].code, "MANIFEST_UNKNOWN");
  assert.match(body.errors[0].message, /docker\.io/);
});

test("?ns= selects a configured upstream; an ns Berth does not know is never read from Docker Hub", { skip }, async () => {
  const repo = freshRepo("mirror-ns");
  const img = await buildImage({ label: "mirror-ns" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);

  const log = await UpstreamLog.mark();
  const viaNs = await fetchBerth(`/v2/${repo}/manifests/v1?ns=open.test`, { headers: ACCEPT });
  assert.equal(viaNs.status, 200);
  assert.equal(viaNs.headers.get("docker-content-digest"), img.image.digest);
  assert.deepEqual(await log.summary(), [`open GET /v2/${repo}/manifests/v1`]);

  // quay.io is not configured: the same name must not come from the default upstream
  const unknown = await UpstreamLog.mark();
  const foreign = await fetchBerth(`/v2/${repo}/manifests/v1?ns=quay.io`, { headers: ACCEPT });
  assert.equal(foreign.status, 404, "not served from docker.io under quay.io's name");
  await foreign.arrayBuffer();
  assert.deepEqual(await unknown.summary(), [], "nothing asked upstream");
  // without ns, mirror mode reads it through docker.io (the same open registry here)
  const plain = await fetchBerth(`/v2/${repo}/manifests/v1`, { headers: ACCEPT });
  assert.equal(plain.status, 200);
  await plain.arrayBuffer();
});
