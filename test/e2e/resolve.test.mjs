// The JSON API (resolve, inspect, repositories) against images pushed with skopeo, checked
// against what real clients compute from the same registry:
// - the digest of `skopeo inspect --raw` (the bytes served),
// - `skopeo --override-os linux --override-arch … inspect` (its Digest, Layers and config),
// - the manifest skopeo itself selects and copies for a platform (`skopeo copy --override-arch`),
// - `docker manifest inspect --insecure [-v]` (when the docker CLI is installed).
// Images: a single-arch image built by umoci, one from the harness's own layout writer, and a
// linux/amd64 + linux/arm64 + linux/arm/v7 index over three umoci-built images.
// Last, resolve through the pull-through cache, against the upstream peers the runner starts.

import { test, before, describe as group } from "node:test";
import assert from "node:assert/strict";
import { copyFile, readdir, mkdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  requireTarget, makeTempDir, buildTestImages, buildUmociImage, OciLayout, readLayout, skopeo, dockerRef, uniqueRepo,
  run, which, sha256, berthFetch, describe, BERTH_URL, BERTH_HOST,
} from "./harness.mjs";

const target = process.env.BERTH_E2E_TARGET ?? "wrangler";
const notBerth = target === "distribution" && "the JSON API is Berth's own (target is docker-registry)";
const dockerBin = await which("docker");
const noDocker = dockerBin ? false : "docker CLI not found on PATH: the `docker manifest inspect` comparisons did NOT run";
if (noDocker) console.error(`\n*** SKIPPING docker CLI comparisons: ${noDocker} ***\n`);

const repo = uniqueRepo("resolve");
const PLATFORMS = [
  { key: "amd64", architecture: "amd64", spec: "linux/amd64" },
  { key: "arm64", architecture: "arm64", spec: "linux/arm64" },
  { key: "arm-v7", architecture: "arm", variant: "v7", spec: "linux/arm/v7" },
];
let images; // harness images (app: single-arch)
let umoci; // { single: {digest}, index: {digest, indexBytes}, platforms: {key: descriptor} }
let dockerEnv;

/** Three umoci images (one per platform) merged into one OCI layout under an index. */
async function buildUmociIndex() {
  const merged = await new OciLayout(makeTempDir("berth-umoci-index-")).init();
  const platforms = {};
  for (const p of PLATFORMS) {
    const dir = join(makeTempDir("berth-umoci-"), "layout");
    const built = await buildUmociImage(dir, "latest", { architecture: p.architecture });
    const blobs = join(dir, "blobs", "sha256");
    await mkdir(join(merged.dir, "blobs", "sha256"), { recursive: true });
    for (const name of await readdir(blobs)) await copyFile(join(blobs, name), join(merged.dir, "blobs", "sha256", name));
    // umoci 0.4 has no --variant: the index states the arm variant, as many real indexes do.
    const platform = { architecture: p.architecture, os: "linux", ...(p.variant ? { variant: p.variant } : {}) };
    platforms[p.key] = { mediaType: built.descriptor.mediaType, digest: built.descriptor.digest, size: built.descriptor.size, platform };
  }
  const index = await merged.addIndex(PLATFORMS.map((p) => platforms[p.key]));
  await merged.tag("multi", index.descriptor);
  await merged.tag("single", platforms.amd64);
  return { dir: merged.dir, index, platforms, single: platforms.amd64 };
}

async function api(path, init = {}) {
  const res = await berthFetch(path, init);
  return res;
}

async function resolve(ref, extra = {}) {
  const res = await api(`/api/v1/resolve?${new URLSearchParams({ ref, ...extra })}`);
  assert.equal(res.status, 200, `resolve ${ref} ${JSON.stringify(extra)}: ${await describe(res.clone())}`);
  return res.json();
}

const ref = (tag) => `${BERTH_HOST}/${repo}:${tag}`;
const overrides = (p) => ["--override-os", "linux", "--override-arch", p.architecture, ...(p.variant ? ["--override-variant", p.variant] : [])];

before(async () => {
  if (notBerth) return;
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  umoci = await buildUmociIndex();
  const push = (args, layoutRef, dir, tag) =>
    skopeo(["copy", ...args, "--preserve-digests", "--dest-tls-verify=false", `oci:${dir}:${layoutRef}`, dockerRef(repo, tag)]);
  await push([], "app", images.dir, "app");
  await push([], "single", umoci.dir, "umoci");
  await push(["--all"], "multi", umoci.dir, "multi");
  dockerEnv = { DOCKER_CONFIG: makeTempDir("berth-docker-config-"), DOCKER_CLI_EXPERIMENTAL: "enabled" };
});

test("single-arch images: digest, config and layers equal what skopeo reports", { skip: notBerth }, async () => {
  for (const [tag, want] of [["app", images.app.digest], ["umoci", umoci.single.digest]]) {
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", dockerRef(repo, tag)]);
    const rawDigest = sha256(Buffer.from(raw.stdout, "utf8"));
    assert.equal(rawDigest, want, "skopeo saw the image as pushed");
    const info = JSON.parse((await skopeo(["inspect", "--tls-verify=false", dockerRef(repo, tag)])).stdout);
    const config = await skopeo(["inspect", "--config", "--raw", "--tls-verify=false", dockerRef(repo, tag)]);

    const answer = await resolve(ref(tag));
    assert.equal(answer.digest, rawDigest, `${tag}: digest = digest of skopeo inspect --raw`);
    assert.equal(answer.digest, info.Digest, `${tag}: digest = skopeo inspect Digest`);
    assert.equal(answer.isIndex, false);
    assert.equal(answer.manifest.digest, rawDigest);
    assert.equal(answer.manifest.config.digest, sha256(Buffer.from(config.stdout, "utf8")), `${tag}: config digest`);
    assert.deepEqual(answer.manifest.layers.map((l) => l.digest), info.Layers, `${tag}: layers`);
    assert.equal(answer.manifest.platform, "linux/amd64");
    assert.equal(answer.platform.default, true);
    assert.equal(answer.pinned, `${BERTH_HOST}/${repo}@${rawDigest}`);
    assert.equal(answer.repository.kind, "hosted");

    // The pinned reference is pullable as such.
    const pinned = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${answer.pinned}`]);
    assert.equal(sha256(Buffer.from(pinned.stdout, "utf8")), rawDigest);
  }
});

test("multi-arch index: the index digest, and per platform the manifest skopeo selects", { skip: notBerth }, async () => {
  const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", dockerRef(repo, "multi")]);
  const indexDigest = sha256(Buffer.from(raw.stdout, "utf8"));
  assert.equal(indexDigest, umoci.index.digest);

  const byDefault = await resolve(ref("multi"));
  assert.equal(byDefault.digest, indexDigest, "digest = digest of skopeo inspect --raw");
  assert.equal(byDefault.isIndex, true);
  assert.deepEqual(byDefault.platforms.map((p) => p.platform), PLATFORMS.map((p) => p.spec));
  assert.equal(byDefault.platform.wanted, "linux/amd64");
  assert.equal(byDefault.manifest.digest, umoci.platforms.amd64.digest);

  for (const p of PLATFORMS) {
    const info = JSON.parse((await skopeo([...overrides(p), "inspect", "--tls-verify=false", dockerRef(repo, "multi")])).stdout);
    const config = await skopeo([...overrides(p), "inspect", "--config", "--raw", "--tls-verify=false", dockerRef(repo, "multi")]);
    // What skopeo itself picks from the index for this platform, by copying it.
    const out = makeTempDir("berth-pick-");
    await skopeo([...overrides(p), "copy", "--preserve-digests", "--src-tls-verify=false", dockerRef(repo, "multi"), `oci:${out}:${p.key}`]);
    const picked = (await readLayout(out)).refs.get(p.key)?.digest;

    const answer = await resolve(ref("multi"), { platform: p.spec });
    assert.equal(answer.digest, info.Digest, `${p.spec}: digest = skopeo --override-arch inspect Digest`);
    assert.equal(answer.manifest.digest, picked, `${p.spec}: the manifest skopeo copies for this platform`);
    assert.equal(answer.manifest.digest, umoci.platforms[p.key].digest);
    assert.equal(answer.manifest.platform, p.spec);
    assert.deepEqual(answer.manifest.layers.map((l) => l.digest), info.Layers, `${p.spec}: layers`);
    assert.equal(answer.manifest.config.digest, sha256(Buffer.from(config.stdout, "utf8")), `${p.spec}: config`);
    assert.equal(answer.manifest.pinned, `${BERTH_HOST}/${repo}@${picked}`);

    const text = await api(`/api/v1/resolve?${new URLSearchParams({ ref: ref("multi"), platform: p.spec, format: "digest" })}`);
    assert.equal(await text.text(), `${picked}\n`, "format=digest with a platform is the platform's manifest");
  }
});

test("aliases of this Berth's host and pinned references that tools accept", { skip: notBerth }, async () => {
  const port = new URL(BERTH_URL).port;
  const viaLocalhost = await resolve(`localhost:${port}/${repo}:multi`);
  assert.equal(viaLocalhost.digest, umoci.index.digest);
  assert.equal(viaLocalhost.repository.kind, "hosted");
  assert.equal(viaLocalhost.pinned, `localhost:${port}/${repo}@${umoci.index.digest}`);
  const noHost = await resolve(`${repo}:multi`);
  assert.equal(noHost.digest, umoci.index.digest, "a hosted repository is found without naming the host");
  assert.equal(noHost.pinned, `${BERTH_HOST}/${repo}@${umoci.index.digest}`);
  // skopeo copies by the pinned reference (all platforms).
  const out = makeTempDir("berth-pinned-");
  await skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", `docker://${noHost.pinned}`, `oci:${out}:pinned`]);
  assert.equal((await readLayout(out)).refs.get("pinned")?.digest, umoci.index.digest);
});

test("docker manifest inspect reports the same digests; inspect's manifest has docker's -v shape", { skip: notBerth || noDocker }, async () => {
  const docker = async (...args) => JSON.parse((await run("docker", ["manifest", "inspect", "--insecure", ...args], { env: dockerEnv, timeoutMs: 120_000 })).stdout);

  const single = await docker("-v", ref("app"));
  const answer = await resolve(ref("app"));
  assert.equal(answer.digest, single.Descriptor.digest, "docker's digest of the single-arch image");
  const inspected = await (await api(`/api/v1/inspect?${new URLSearchParams({ ref: ref("app") })}`)).json();
  assert.deepEqual(inspected.manifest, single, "inspect.manifest = docker manifest inspect -v");

  const list = await docker(ref("multi"));
  const verbose = await docker("-v", ref("multi"));
  for (const p of PLATFORMS) {
    const entry = list.manifests.find((m) => m.platform.architecture === p.architecture);
    const answer = await resolve(ref("multi"), { platform: p.spec });
    assert.equal(answer.manifest.digest, entry.digest, `${p.spec}: docker lists the same manifest digest`);
    const mine = await (await api(`/api/v1/inspect?${new URLSearchParams({ ref: ref("multi"), platform: p.spec })}`)).json();
    const theirs = verbose.find((v) => v.Descriptor.digest === entry.digest);
    assert.deepEqual(mine.manifest, theirs, `${p.spec}: inspect.manifest = the docker manifest inspect -v entry`);
  }
});

test("inspect shows the config like docker image inspect", { skip: notBerth }, async () => {
  const res = await api(`/api/v1/inspect?${new URLSearchParams({ ref: ref("app") })}`);
  assert.equal(res.status, 200, await describe(res.clone()));
  const body = await res.json();
  const config = images.app.config;
  assert.equal(body.image.Id, images.app.configDescriptor.digest);
  assert.equal(body.image.Architecture, "amd64");
  assert.equal(body.image.Os, "linux");
  assert.deepEqual(body.image.Config.Env, config.config.Env);
  assert.deepEqual(body.image.Config.Cmd, config.config.Cmd);
  assert.deepEqual(body.image.Config.Labels, config.config.Labels);
  assert.deepEqual(body.image.RootFS, { Type: "layers", Layers: config.rootfs.diff_ids });
  assert.equal(body.image.History.length, config.history.length);
  assert.deepEqual(body.image.RepoDigests, [`${BERTH_HOST}/${repo}@${images.app.digest}`]);
});

test("caching headers over HTTP: immutable by digest, revalidation by tag", { skip: notBerth }, async () => {
  const byDigest = `/api/v1/resolve?${new URLSearchParams({ ref: `${BERTH_HOST}/${repo}@${umoci.index.digest}` })}`;
  const first = await api(byDigest);
  assert.equal(first.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(first.headers.get("etag"), `"${umoci.index.digest}"`);
  await first.arrayBuffer();
  const notModified = await api(byDigest, { headers: { "If-None-Match": `"${umoci.index.digest}"` } });
  assert.equal(notModified.status, 304);

  const byTag = `/api/v1/resolve?${new URLSearchParams({ ref: ref("multi") })}`;
  const tagged = await api(byTag);
  assert.match(tagged.headers.get("cache-control") ?? "", /max-age=30\b/);
  const etag = tagged.headers.get("etag");
  await tagged.arrayBuffer();
  assert.equal((await api(byTag, { headers: { "If-None-Match": etag } })).status, 304);
});

test("curl: the documented one-liners work", { skip: notBerth }, async () => {
  const curl = await which("curl");
  if (!curl) return;
  const r = await run("curl", ["-fsSk", `${BERTH_URL}/api/v1/resolve?ref=${encodeURIComponent(ref("multi"))}&platform=linux/arm64&format=digest`]);
  assert.equal(r.stdout, `${umoci.platforms.arm64.digest}\n`);
  const fail = await run("sh", ["-c", `curl -sk -o /dev/null -w '%{http_code}' '${BERTH_URL}/api/v1/resolve?ref=${repo}:nope'`]);
  assert.equal(fail.stdout, "404");
});

test("repositories and tags list the pushed images with platforms and sizes", { skip: notBerth }, async () => {
  const repos = await (await api(`/api/v1/repositories?prefix=${encodeURIComponent(repo)}`)).json();
  assert.deepEqual(repos.repositories.map((r) => r.name), [repo]);
  const tags = await (await api(`/api/v1/repositories/${repo}/tags`)).json();
  assert.deepEqual(tags.tags.map((t) => t.tag), ["app", "multi", "umoci"]);
  const multi = tags.tags.find((t) => t.tag === "multi");
  assert.equal(multi.digest, umoci.index.digest);
  assert.deepEqual(multi.platforms, PLATFORMS.map((p) => p.spec));
  assert.ok(multi.size > 0);
  const app = tags.tags.find((t) => t.tag === "app");
  const appBytes = images.app.configDescriptor.size + images.app.manifest.layers.reduce((s, l) => s + l.size, 0);
  assert.equal(app.size, appBytes);
  const filtered = await (await api(`/api/v1/repositories/${repo}/tags?pattern=m*`)).json();
  assert.deepEqual(filtered.tags.map((t) => t.tag), ["multi"]);
});

// The runner (target wrangler) configures upstreams on its peers: docker.io and open.test both
// point at an open docker-registry. Images are pushed there under names of this run only, so no
// other test finds them already cached (e.g. library/alpine must stay cold for cache-pull).
const peers = process.env.BERTH_UPSTREAM_PEERS ? JSON.parse(process.env.BERTH_UPSTREAM_PEERS) : null;
const noPeers = !peers && "no upstream peers (BERTH_UPSTREAM_PEERS unset: another target or BERTH_E2E_UPSTREAMS=0): resolve through the cache did NOT run";
if (noPeers && !notBerth) console.error(`\n*** SKIPPING pull-through resolve tests: ${noPeers} ***\n`);

group("through the pull-through cache", { skip: notBerth || noPeers }, () => {
  const viaBerth = (path) => `docker://${BERTH_HOST}/${path}`;
  const official = `berthresolve${randomBytes(4).toString("hex")}`; // a one-segment Docker Hub name
  const upstreamRepo = uniqueRepo("resolve-upstream");

  before(async () => {
    const direct = new URL(peers.direct.open).host;
    const push = (args, layoutRef, dir, dest) =>
      skopeo(["copy", ...args, "--dest-tls-verify=false", `oci:${dir}:${layoutRef}`, `docker://${direct}/${dest}`]);
    await push(["--preserve-digests"], "single", umoci.dir, `library/${official}:1`);
    await push(["--all", "--preserve-digests"], "multi", umoci.dir, `${upstreamRepo}:v1`);
    await push(["--format", "v2s2"], "app", images.dir, `${upstreamRepo}:docker`);
  });

  test("a one-segment name is read as docker.io/library/<name> and resolved through the cache", async () => {
    const want = umoci.single.digest;
    const answer = await resolve(`${official}:1`);
    assert.equal(answer.normalized, `docker.io/library/${official}:1`);
    assert.deepEqual(answer.normalizations, [
      "no host given and no repository hosted here by that name; added default host docker.io",
      "added library/ prefix",
    ]);
    assert.deepEqual(answer.repository, { name: `docker.io/library/${official}`, kind: "cached", route: `Docker Hub (default host): cached repository docker.io/library/${official}` });
    assert.equal(answer.digest, want);
    assert.equal(answer.pinned, `docker.io/library/${official}@${want}`);
    // skopeo, pulling the same name through Berth, sees the same bytes and layers.
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", viaBerth(`docker.io/library/${official}:1`)]);
    assert.equal(sha256(Buffer.from(raw.stdout, "utf8")), answer.digest);
    assert.deepEqual(answer.manifest.layers.map((l) => l.digest), JSON.parse(raw.stdout).layers.map((l) => l.digest));
    for (const form of [`library/${official}:1`, `docker.io/library/${official}:1`, `index.docker.io/${official}:1`, `${official}@${want}`]) {
      assert.equal((await resolve(form)).digest, want, form);
    }
  });

  test("an upstream index resolves per platform like skopeo selects through Berth", async () => {
    for (const p of PLATFORMS) {
      const answer = await resolve(`open.test/${upstreamRepo}:v1`, { platform: p.spec });
      assert.equal(answer.repository.name, `open.test/${upstreamRepo}`);
      assert.equal(answer.repository.kind, "cached");
      assert.equal(answer.digest, umoci.index.digest);
      assert.equal(answer.pinned, `open.test/${upstreamRepo}@${umoci.index.digest}`);
      assert.equal(answer.manifest.digest, umoci.platforms[p.key].digest, p.spec);
      const out = makeTempDir("berth-pick-");
      await skopeo([...overrides(p), "copy", "--preserve-digests", "--src-tls-verify=false", viaBerth(`open.test/${upstreamRepo}:v1`), `oci:${out}:x`]);
      assert.equal((await readLayout(out)).refs.get("x")?.digest, answer.manifest.digest, `${p.spec}: the manifest skopeo copies`);
    }
  });

  test("Docker schema 2 images from upstream are inspected like docker does", async () => {
    const res = await api(`/api/v1/inspect?${new URLSearchParams({ ref: `open.test/${upstreamRepo}:docker` })}`);
    assert.equal(res.status, 200, await describe(res.clone()));
    const body = await res.json();
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", viaBerth(`open.test/${upstreamRepo}:docker`)]);
    assert.equal(body.digest, sha256(Buffer.from(raw.stdout, "utf8")));
    assert.equal(body.manifest.Descriptor.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    assert.deepEqual(body.manifest.SchemaV2Manifest, JSON.parse(raw.stdout));
    assert.equal(body.image.Architecture, "amd64");
    assert.deepEqual(body.image.Config.Labels, images.app.config.config.Labels);
  });

  test("cached repositories are listed as such, with their cached tags", async () => {
    const repos = await (await api(`/api/v1/repositories?prefix=${encodeURIComponent(`open.test/${upstreamRepo}`)}`)).json();
    assert.deepEqual(repos.repositories.map((r) => [r.name, r.kind]), [[`open.test/${upstreamRepo}`, "cached"]]);
    const tags = await (await api(`/api/v1/repositories/open.test/${upstreamRepo}/tags`)).json();
    assert.equal(tags.kind, "cached");
    const v1 = tags.tags.find((t) => t.tag === "v1");
    assert.equal(v1.digest, umoci.index.digest);
    assert.deepEqual(v1.platforms, PLATFORMS.map((p) => p.spec));
    assert.equal(v1.size, null, "a cached index's size is not computed (children are not fetched for a listing)");
  });

  test("unknown upstream tags and repositories are 404s", async () => {
    for (const [ref, code] of [[`open.test/${upstreamRepo}:nope`, "MANIFEST_UNKNOWN"], [`${official}:does-not-exist`, "MANIFEST_UNKNOWN"]]) {
      const res = await api(`/api/v1/resolve?${new URLSearchParams({ ref })}`);
      assert.equal(res.status, 404, `${ref}: ${await describe(res.clone())}`);
      assert.equal((await res.json()).errors[0].code, code, ref);
    }
  });
});
