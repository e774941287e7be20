// Pull-through cache with real clients: skopeo (single-arch, one platform of an index, --all),
// podman and `docker manifest inspect` pull from real docker-registry upstreams through Berth
// (/v2/<upstream>/<repository>/…), and the upstream requests are counted from the logging front:
// a cold pull makes one GET per manifest and per blob, a warm pull none, a revalidation after the
// tag TTL one HEAD and no GET; 20 concurrent cold GETs of a layer make one upstream GET.
// Upstreams (scripts/e2e.mjs): open.test (TTL 1 h), fresh.test (TTL 0), docker.io (the open
// registry under Docker Hub's name).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  BERTH_HOST, MANIFEST_ACCEPT, berthFetch, compareLayouts, containersEnv, describe, makeTempDir, readBlob, readLayout, run, sha256, skopeo, which,
} from "./harness.mjs";
import {
  UpstreamLog, buildImage, buildIndex, clearFault, freshRepo, pushUpstream, readBody, setFault, short, upstreamPeers as peers, upstreamSkip as skip,
} from "./upstream.mjs";

const ACCEPT = { Accept: MANIFEST_ACCEPT };

before(() => {
  if (skip) console.error(`\n*** SKIPPING pull-through cache tests: ${skip} ***\n`);
});

/** skopeo copy docker://BERTH_HOST/<path> → a fresh OCI layout; returns {out, descriptor}. */
async function pull(path, extra = []) {
  const out = makeTempDir("berth-cache-pull-");
  await skopeo(["copy", ...extra, "--src-tls-verify=false", `docker://${BERTH_HOST}/${path}`, `oci:${out}:pulled`]);
  const { refs } = await readLayout(out);
  return { out, descriptor: refs.get("pulled") };
}

/** The expected upstream log of a cold pull: one GET for the manifest and for each blob. */
function coldPull(server, repo, tag, manifestDigests, blobs) {
  return [
    `${server} GET /v2/${repo}/manifests/${tag}`,
    ...manifestDigests.map((d) => `${server} GET /v2/${repo}/manifests/${short(d)}`),
    ...blobs.map((b) => `${server} GET /v2/${repo}/blobs/${short(b.digest)}`),
  ].sort();
}

const sorted = async (log, repo) => (await log.summary(repo)).sort();

test("skopeo: a seeded single-arch image pulled through the cache is bit-identical", { skip }, async () => {
  const { out, descriptor } = await pull("open.test/seed/single:v1");
  assert.equal(descriptor.digest, peers.images.single.digest);
  assert.equal(await compareLayouts(peers.layout, out, peers.images.single), 4, "manifest, config and two layers");
});

test("skopeo --all: a seeded multi-arch index pulled through the cache is bit-identical", { skip }, async () => {
  const { out, descriptor } = await pull("open.test/seed/multi:v1", ["--all"]);
  assert.equal(descriptor.digest, peers.images.multi.digest);
  assert.equal(descriptor.mediaType, peers.images.multi.mediaType);
  // index, 2 manifests, 2 configs, the shared layer and one own layer per platform
  assert.equal(await compareLayouts(peers.layout, out, peers.images.multi), 8);
});

test("a cold pull makes one upstream GET per manifest and per blob; a warm pull makes none", { skip }, async () => {
  const repo = freshRepo("cold");
  const img = await buildImage({ label: "cold" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);

  let log = await UpstreamLog.mark();
  const first = await pull(`open.test/${repo}:v1`);
  assert.equal(first.descriptor.digest, img.image.digest);
  assert.equal(await compareLayouts(img.dir, first.out, img.image.descriptor), 5);
  assert.deepEqual(await sorted(log), coldPull("open", repo, "v1", [], img.blobs));

  log = await UpstreamLog.mark();
  const second = await pull(`open.test/${repo}:v1`);
  assert.equal(await compareLayouts(img.dir, second.out, img.image.descriptor), 5);
  const byDigest = await pull(`open.test/${repo}@${img.image.digest}`);
  assert.equal(byDigest.descriptor.digest, img.image.digest);
  assert.deepEqual(await log.summary(), [], "a warm pull (by tag within the TTL, and by digest) sends nothing upstream");
});

test("one platform of a multi-arch index: only that child and its blobs are fetched; --all fetches the rest once", { skip }, async () => {
  const repo = freshRepo("multi");
  const built = await buildIndex();
  await pushUpstream(peers.direct.open, repo, "v1", built.dir, built.index.descriptor);
  const blobsOf = (image) => [image.configDescriptor, ...image.manifest.layers];

  let log = await UpstreamLog.mark();
  const arm = await pull(`open.test/${repo}:v1`, ["--override-arch", "arm64", "--override-os", "linux"]);
  assert.equal(arm.descriptor.digest, built.images.arm64.digest, "skopeo picked the arm64 manifest");
  await compareLayouts(built.dir, arm.out, built.images.arm64.descriptor);
  assert.deepEqual(await sorted(log), coldPull("open", repo, "v1", [built.images.arm64.digest], blobsOf(built.images.arm64)));

  log = await UpstreamLog.mark();
  const all = await pull(`open.test/${repo}:v1`, ["--all"]);
  assert.equal(all.descriptor.digest, built.index.digest);
  assert.equal(await compareLayouts(built.dir, all.out, built.index.descriptor), 8);
  const shared = built.images.amd64.manifest.layers[0].digest;
  const amd64Only = blobsOf(built.images.amd64).filter((b) => b.digest !== shared);
  assert.deepEqual(
    await sorted(log),
    [`open GET /v2/${repo}/manifests/${short(built.images.amd64.digest)}`, ...amd64Only.map((b) => `open GET /v2/${repo}/blobs/${short(b.digest)}`)].sort(),
    "only the amd64 child and its own blobs: the index tag is within its TTL, the shared layer is cached",
  );
});

test("a tag past its TTL is revalidated with one HEAD and no GET; a moved tag GETs only what is new", { skip }, async () => {
  const repo = freshRepo("fresh");
  const one = await buildImage({ label: "fresh-one" });
  await pushUpstream(peers.direct.open, repo, "latest", one.dir, one.image.descriptor);

  let log = await UpstreamLog.mark();
  await pull(`fresh.test/${repo}:latest`);
  assert.deepEqual(await sorted(log), coldPull("open", repo, "latest", [], one.blobs));

  log = await UpstreamLog.mark();
  const again = await pull(`fresh.test/${repo}:latest`);
  assert.equal(again.descriptor.digest, one.image.digest);
  assert.deepEqual(await log.summary(), [`open HEAD /v2/${repo}/manifests/latest`], "tagTtlSeconds 0: one HEAD, no GET");

  // The tag moves upstream; open.test trusts its copy for an hour, fresh.test sees the move.
  await pull(`open.test/${repo}:latest`);
  const two = await buildImage({ label: "fresh-two" });
  await pushUpstream(peers.direct.open, repo, "latest", two.dir, two.image.descriptor);
  log = await UpstreamLog.mark();
  const moved = await pull(`fresh.test/${repo}:latest`);
  assert.equal(moved.descriptor.digest, two.image.digest);
  await compareLayouts(two.dir, moved.out, two.image.descriptor);
  // HEAD tells the new digest; the manifest is then fetched by that digest (a tag could move again)
  assert.deepEqual(
    await sorted(log),
    [
      `open HEAD /v2/${repo}/manifests/latest`,
      `open GET /v2/${repo}/manifests/${short(two.image.digest)}`,
      ...two.blobs.map((b) => `open GET /v2/${repo}/blobs/${short(b.digest)}`),
    ].sort(),
  );

  log = await UpstreamLog.mark();
  const trusted = await pull(`open.test/${repo}:latest`);
  assert.equal(trusted.descriptor.digest, one.image.digest, "open.test still serves the tag it validated less than an hour ago");
  assert.deepEqual(await log.summary(), []);
});

test("20 concurrent cold GETs of one layer make ONE upstream GET and all get the right bytes", { skip }, async () => {
  const repo = freshRepo("herd");
  const img = await buildImage({ label: "herd", bigBytes: 6 * 1024 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const layer = img.image.manifest.layers[1];

  const log = await UpstreamLog.mark();
  const results = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const response = await berthFetch(`/v2/open.test/${repo}/blobs/${layer.digest}`);
      if (response.status !== 200) return { status: response.status, text: await describe(response) };
      const hash = createHash("sha256");
      let size = 0;
      for await (const chunk of response.body) {
        hash.update(chunk);
        size += chunk.length;
      }
      return { status: 200, digest: `sha256:${hash.digest("hex")}`, size, length: response.headers.get("content-length") };
    }),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 200, `client ${i}: ${r.text}`);
    assert.equal(r.digest, layer.digest, `client ${i} got the right bytes`);
    assert.equal(r.size, layer.size);
    assert.equal(r.length, String(layer.size));
  }
  assert.deepEqual(await log.summary(), [`open GET /v2/${repo}/blobs/${short(layer.digest)}`]);
});

test("a Range GET of a cold blob answers 206 with the right slice; resumed ranges come from the cache", { skip }, async () => {
  const repo = freshRepo("range");
  const img = await buildImage({ label: "range", bigBytes: 1024 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const layer = img.image.manifest.layers[1];
  const whole = await readBlob(img.dir, layer.digest);
  const path = `/v2/open.test/${repo}/blobs/${layer.digest}`;

  const log = await UpstreamLog.mark();
  for (const [start, end] of [[0, 99], [1000, 200_000], [layer.size - 10, layer.size - 1]]) {
    const response = await berthFetch(path, { headers: { Range: `bytes=${start}-${end}` } });
    assert.equal(response.status, 206, await describe(response.clone()));
    assert.equal(response.headers.get("content-range"), `bytes ${start}-${end}/${layer.size}`);
    assert.equal(response.headers.get("content-length"), String(end - start + 1));
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(whole.subarray(start, end + 1)), `bytes ${start}-${end}`);
  }
  assert.deepEqual(await log.summary(), [`open GET /v2/${repo}/blobs/${short(layer.digest)}`], "the first range filled the cache");
});

test("an upstream blob without Content-Length (chunked) is stored whole and served with its length", { skip }, async () => {
  const repo = freshRepo("chunked");
  const img = await buildImage({ label: "chunked", bigBytes: 1024 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  await setFault(peers.open, repo, "no-length", { match: "blobs" });
  try {
    const log = await UpstreamLog.mark();
    const { out, descriptor } = await pull(`open.test/${repo}:v1`);
    assert.equal(descriptor.digest, img.image.digest);
    assert.equal(await compareLayouts(img.dir, out, img.image.descriptor), 5);
    assert.deepEqual(await sorted(log), coldPull("open", repo, "v1", [], img.blobs));
    const layer = img.image.manifest.layers[1];
    const response = await berthFetch(`/v2/open.test/${repo}/blobs/${layer.digest}`, { headers: { "Accept-Encoding": "gzip" } });
    assert.equal(response.headers.get("content-length"), String(layer.size));
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), layer.digest, "byte-exact, not re-encoded");
  } finally {
    await clearFault(peers.open, repo);
  }
});

test("podman pull through the cache: layers unpack to their diff_ids; one GET per manifest and blob", { skip }, async () => {
  const repo = freshRepo("podman");
  const img = await buildImage({ label: "podman" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const c = await containersEnv();
  const base = makeTempDir("berth-cache-podman-");
  const tmp = join(base, "tmp");
  await run("mkdir", ["-p", tmp]);
  const runroot = makeTempDir("bcp-", { short: true });
  const podman = (args) =>
    run("podman", ["--root", join(base, "root"), "--runroot", runroot, "--tmpdir", tmp, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none", ...args], {
      env: { ...c.env, TMPDIR: tmp },
      timeoutMs: 300_000,
    });

  const log = await UpstreamLog.mark();
  const ref = `${BERTH_HOST}/open.test/${repo}:v1`;
  await podman(["pull", "--tls-verify=false", ref]);
  const [info] = JSON.parse((await podman(["image", "inspect", ref])).stdout);
  assert.equal(info.Digest, img.image.digest);
  assert.equal(`sha256:${info.Id}`, img.image.configDescriptor.digest);
  assert.deepEqual(info.RootFS.Layers, img.layers.map((l) => l.diffId));
  assert.deepEqual(await sorted(log), coldPull("open", repo, "v1", [], img.blobs));
});

test("docker manifest inspect --insecure through the cache", { skip }, async (t) => {
  if (!(await which("docker"))) return t.skip("docker CLI not found on PATH");
  const repo = freshRepo("docker");
  const img = await buildImage({ label: "docker" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const env = { DOCKER_CONFIG: makeTempDir("berth-docker-config-"), DOCKER_CLI_EXPERIMENTAL: "enabled" };
  const inspect = async (verbose) =>
    JSON.parse((await run("docker", ["manifest", "inspect", "--insecure", ...(verbose ? ["-v"] : []), `${BERTH_HOST}/open.test/${repo}:v1`], { env, timeoutMs: 120_000 })).stdout);

  let log = await UpstreamLog.mark();
  const manifest = await inspect(false);
  assert.equal(manifest.config.digest, img.image.configDescriptor.digest);
  assert.deepEqual(manifest.layers.map((l) => l.digest), img.image.manifest.layers.map((l) => l.digest));
  // docker reads the config blob too (for the platform)
  assert.deepEqual(await sorted(log), [`open GET /v2/${repo}/blobs/${short(img.image.configDescriptor.digest)}`, `open GET /v2/${repo}/manifests/v1`]);

  log = await UpstreamLog.mark();
  const verbose = await inspect(true);
  assert.equal(verbose.Descriptor.digest, img.image.digest);
  assert.equal(verbose.Descriptor.platform?.architecture, "amd64");
  assert.equal(sha256(Buffer.from(verbose.Raw, "base64")), img.image.digest, "raw bytes as the upstream has them");
  assert.deepEqual(await log.summary(), [], "warm: nothing upstream");
});

test("docker.io: one-segment names get library/ at the upstream", { skip }, async () => {
  const log = await UpstreamLog.mark();
  const response = await berthFetch("/v2/docker.io/alpine/manifests/3", { headers: ACCEPT });
  assert.equal(response.status, 200, await describe(response.clone()));
  assert.equal(response.headers.get("docker-content-digest"), peers.images.single.digest);
  assert.deepEqual(await log.summary(), ["open GET /v2/library/alpine/manifests/3"]);
  const same = await berthFetch("/v2/docker.io/library/alpine/manifests/3", { method: "HEAD", headers: ACCEPT });
  assert.equal(same.status, 200);
  assert.equal(same.headers.get("docker-content-digest"), peers.images.single.digest);
});

test("?ns=open.test on an un-prefixed path reaches the upstream (containerd mirrors)", { skip }, async () => {
  const repo = freshRepo("ns");
  const img = await buildImage({ label: "ns" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);

  const hosted = await berthFetch(`/v2/${repo}/manifests/v1`, { headers: ACCEPT });
  assert.equal(hosted.status, 404, "without ns the name is a hosted repository that does not exist");
  await hosted.arrayBuffer();

  const log = await UpstreamLog.mark();
  const manifest = await berthFetch(`/v2/${repo}/manifests/v1?ns=open.test`, { headers: ACCEPT });
  assert.equal(manifest.status, 200, await describe(manifest.clone()));
  assert.equal(manifest.headers.get("docker-content-digest"), img.image.digest);
  assert.equal(sha256(Buffer.from(await manifest.arrayBuffer())), img.image.digest);
  const layer = img.image.manifest.layers[1];
  const blob = await berthFetch(`/v2/${repo}/blobs/${layer.digest}?ns=open.test`);
  assert.equal(blob.status, 200);
  const { bytes } = await readBody(blob);
  assert.equal(sha256(bytes), layer.digest);
  assert.deepEqual(await sorted(log), [`open GET /v2/${repo}/blobs/${short(layer.digest)}`, `open GET /v2/${repo}/manifests/v1`]);

  // the ns request filled the same cache as the prefixed name
  const prefixed = await berthFetch(`/v2/open.test/${repo}/blobs/${layer.digest}`, { method: "HEAD" });
  assert.equal(prefixed.status, 200);
  assert.equal((await log.summary()).length, 2, "no new upstream request");
});

test("a push to a cached repository is DENIED", { skip }, async () => {
  const start = await berthFetch("/v2/open.test/seed/single/blobs/uploads/", { method: "POST" });
  assert.equal(start.status, 403);
  const body = await start.json();
  assert.equal(body.errors[0].code, "DENIED");
  assert.match(body.errors[0].message, /read-only/);

  const put = await berthFetch("/v2/open.test/seed/single/manifests/v2", {
    method: "PUT",
    headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body: JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }),
  });
  assert.equal(put.status, 403);
  assert.equal((await put.json()).errors[0].code, "DENIED");

  const del = await berthFetch(`/v2/open.test/seed/single/manifests/${peers.images.single.digest}`, { method: "DELETE" });
  assert.equal(del.status, 403);

  const img = await buildImage({ label: "push" });
  const r = await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${BERTH_HOST}/open.test/${freshRepo("push")}:v1`], { allowFail: true });
  assert.notEqual(r.code, 0, "skopeo push must fail");
  assert.match(r.stderr, /denied|read-only/i);
});
