// `berth push` (bin/berth.mjs) against a wrangler dev whose MAX_CHUNK_BYTES is a few MiB, so a
// 13 MiB layer needs three chunks. An OCI layout, an OCI archive and a docker archive (both
// written by skopeo) and a multi-arch index are pushed through a recording proxy (every PATCH
// within the limit, Content-Range contiguous), then pulled back by skopeo and compared blob by
// blob. Also: a docker:// source in a docker-registry peer, a same-registry source (cross-
// repository mounts), a connection dropped in the middle of a chunk (resumed from the registry's
// Range), a 413 edge in front of the registry, the token flow against the token-auth
// docker-registry peer (credentials from docker's config.json and podman's auth.json), and
// clear failures.
// Starts its own wrangler dev (it needs its own MAX_CHUNK_BYTES); runs only with --target=wrangler.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildTestImages, compareLayouts, makeTempDir, readLayout, run, sha256, sha256File, skopeo, startRecordingProxy, tryRun } from "./harness.mjs";
import { UpstreamLog, upstreamPeers as peers, upstreamSkip } from "./upstream.mjs";
import { startWrangler } from "../../scripts/e2e.mjs";

const ROOT = resolve(fileURLToPath(import.meta.url), "..", "..", "..");
const BERTH_BIN = join(ROOT, "bin", "berth.mjs");
const LIMIT = 5 * 1024 * 1024; // MAX_CHUNK_BYTES of this file's wrangler dev
const BIG = 13 * 1024 * 1024 + 123; // a file of this size in a layer: three chunks

const skip = process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev (--target=wrangler)";
let berth;
let proxy;
let images;
let big; // the image with the big layer: {descriptor, manifest, …}
let bigSize; // its layer's size (the tar around the file)

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING berth push tests: ${skip} ***\n`);
  berth = await startWrangler({ workDir: makeTempDir("berth-push-"), extraArgs: ["--var", `MAX_CHUNK_BYTES:${LIMIT}`] });
  proxy = await startRecordingProxy({ target: berth.url });
  images = await buildTestImages(makeTempDir("berth-push-layout-"));
  const layer = await images.layout.addLayer([{ path: "opt/big.bin", content: randomBytes(BIG) }], { compress: false });
  bigSize = layer.descriptor.size;
  big = await images.layout.addImage({ layers: [images.layers.base, layer], label: "big" });
  await images.layout.tag("big", big.descriptor);
});

after(async () => {
  await proxy?.close();
  await berth?.stop();
});

const unique = (label) => `push/${label}-${randomBytes(4).toString("hex")}`;

/** Runs `node bin/berth.mjs push …`; {code, stdout, stderr, digest (the last stdout line)}. */
async function berthPush(args, { env } = {}) {
  const result = await tryRun(process.execPath, [BERTH_BIN, "push", ...args], { env: { NODE_TLS_REJECT_UNAUTHORIZED: "", ...env }, timeoutMs: 300_000 });
  const lines = result.stdout.trim().split("\n");
  return { ...result, digest: lines[lines.length - 1] };
}

function assertPushed(result, what) {
  assert.equal(result.code, 0, `${what}: exit ${result.code}\n${result.stderr}`);
  assert.match(result.digest, /^sha256:[0-9a-f]{64}$/, `${what}: stdout ends with the digest (got ${JSON.stringify(result.stdout)})`);
  assert.equal(result.stdout.trim().split("\n").length, 1, "stdout carries only the digest");
}

/** The PATCH requests the proxy saw for a repository, grouped by upload session. */
function patchesByUpload(repo) {
  const sessions = new Map();
  for (const r of proxy.requests) {
    if (r.method !== "PATCH" || !r.path.startsWith(`/v2/${repo}/blobs/uploads/`)) continue;
    const id = r.path.split("?")[0];
    sessions.set(id, [...(sessions.get(id) ?? []), r]);
  }
  return sessions;
}

/**
 * Every PATCH is within the limit, with Content-Length and Content-Range; the accepted ones of the
 * biggest upload cover the layer contiguously in ≥ 3 chunks. wrangler dev's proxy now and then
 * answers a PATCH 503 "Your worker restarted mid-request" without the Worker seeing it (see
 * large-blob.test.mjs); berth push resumes such a chunk like any other failure.
 */
function assertChunked(repo, size) {
  const sessions = patchesByUpload(repo);
  let longest = [];
  for (const all of sessions.values()) {
    for (const p of all) {
      const length = Number(p.headers["content-length"]);
      assert.ok(length > 0 && length <= LIMIT, `PATCH of ${p.headers["content-length"]} bytes (limit ${LIMIT})`);
      assert.match(p.headers["content-range"] ?? "", /^\d+-\d+$/);
      assert.ok(p.status === 202 || p.status === 503, `PATCH ${p.headers["content-range"]} answered ${p.status}`);
      if (p.status === 503) console.log(`  [berth-push] PATCH ${p.headers["content-range"]} answered 503 (wrangler dev); resumed`);
    }
    const patches = all.filter((p) => p.status === 202);
    if (patches.length > longest.length) longest = patches;
  }
  assert.ok(longest.length >= Math.ceil(size / LIMIT), `the ${size}-byte layer went in ${longest.length} PATCH(es)`);
  let next = 0;
  for (const p of longest) {
    const [start, end] = p.headers["content-range"].split("-").map(Number);
    assert.equal(start, next, "chunks are contiguous");
    next = end + 1;
  }
  assert.equal(next, size, "the chunks cover the whole layer");
}

/** skopeo copy (--all) back into a fresh OCI layout, digests preserved. */
async function pullBack(ref, { all = false } = {}) {
  const out = makeTempDir("berth-push-pull-");
  await skopeo(["copy", ...(all ? ["--all"] : []), "--preserve-digests", "--src-tls-verify=false", `docker://${berth.host}/${ref}`, `oci:${out}:pulled`], { timeoutMs: 120_000 });
  return { out, descriptor: (await readLayout(out)).refs.get("pulled") };
}

test("berth push oci:<dir>:<ref> sends a layer bigger than the limit in chunks; skopeo pulls it back bit-identical", { skip }, async () => {
  const repo = unique("oci");
  const result = await berthPush(["--insecure", `oci:${images.dir}:big`, `${proxy.host}/${repo}:v1`]);
  assertPushed(result, "push");
  assert.equal(result.digest, big.digest);
  assertChunked(repo, bigSize);
  const pulled = await pullBack(`${repo}:v1`);
  assert.equal(pulled.descriptor.digest, big.digest);
  assert.equal(await compareLayouts(images.dir, pulled.out, big.descriptor), 4);

  // pushed again: every blob is already there, nothing is uploaded
  const before = proxy.requests.length;
  const again = await berthPush(["--insecure", `oci:${images.dir}:big`, `${proxy.host}/${repo}:v2`]);
  assertPushed(again, "second push");
  assert.equal(again.digest, big.digest);
  assert.deepEqual(proxy.requests.slice(before).filter((r) => r.method === "PATCH" || r.method === "POST"), []);
  assert.match(again.stderr, /3 already there/);
});

test("berth push of a multi-arch index pushes every platform, then the index", { skip }, async () => {
  const repo = unique("multi");
  const result = await berthPush(["--insecure", "--all", `oci:${images.dir}:multi`, `${proxy.host}/${repo}:v1`]);
  assertPushed(result, "push");
  assert.equal(result.digest, images.multi.digest);
  const puts = proxy.requests.filter((r) => r.method === "PUT" && r.path.startsWith(`/v2/${repo}/manifests/`)).map((r) => r.path.split("/").pop());
  assert.deepEqual(puts, [...Object.values(images.platforms).map((p) => p.digest), "v1"], "children by digest first, the index under the tag last");
  const pulled = await pullBack(`${repo}:v1`, { all: true });
  assert.equal(pulled.descriptor.digest, images.multi.digest);
  assert.equal(await compareLayouts(images.dir, pulled.out, images.multi.descriptor), 1 + 3 * 3 + 1); // index, 3 × (manifest, config, own layer), the shared base layer

  // --platform pushes one image of the index
  const one = await berthPush(["--insecure", "--platform", "linux/arm64", `oci:${images.dir}:multi`, `${proxy.host}/${repo}:arm64`]);
  assertPushed(one, "--platform push");
  assert.equal(one.digest, images.platforms.arm64.digest);
});

test("berth push oci-archive:<file> (podman save --format oci-archive) reads the layout inside the tar in place", { skip }, async () => {
  const archive = join(makeTempDir("berth-push-oci-archive-"), "multi.tar");
  await skopeo(["copy", "--all", "--preserve-digests", `oci:${images.dir}:multi`, `oci-archive:${archive}:multi`]);
  const repo = unique("oci-archive");
  const result = await berthPush(["--insecure", `oci-archive:${archive}`, `${proxy.host}/${repo}:v1`]);
  assertPushed(result, "push");
  assert.equal(result.digest, images.multi.digest);
  const pulled = await pullBack(`${repo}:v1`, { all: true });
  assert.equal(await compareLayouts(images.dir, pulled.out, images.multi.descriptor), 11);
});

test("berth push docker-archive:<file> (written by skopeo) pushes the archive's bytes as a schema 2 image", { skip }, async () => {
  const work = makeTempDir("berth-push-archive-");
  const archive = join(work, "image.tar");
  await skopeo(["copy", `oci:${images.dir}:big`, `docker-archive:${archive}:team/big:v1`]);
  const repo = unique("archive");
  const result = await berthPush(["--insecure", `docker-archive:${archive}`, `${proxy.host}/${repo}:v1`]);
  assertPushed(result, "push");
  assertChunked(repo, bigSize); // the archive's layer is the uncompressed tar, the same size

  // The archive's own files, by hash.
  const files = join(work, "files");
  await mkdir(files);
  await run("tar", ["-xf", archive, "-C", files]);
  const archived = JSON.parse(await readFile(join(files, "manifest.json"), "utf8"))[0];
  const configDigest = (await sha256File(join(files, archived.Config))).digest;
  const layerDigests = [];
  for (const layer of archived.Layers) layerDigests.push((await sha256File(join(files, layer))).digest);

  // skopeo reads it back unchanged: the manifest's bytes hash to the printed digest, every blob
  // hashes to its name, and they are the archive's config and layer tars.
  const dir = makeTempDir("berth-push-dir-");
  await skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", `docker://${berth.host}/${repo}:v1`, `dir:${dir}`]);
  const manifestBytes = await readFile(join(dir, "manifest.json"));
  assert.equal(sha256(manifestBytes), result.digest);
  const manifest = JSON.parse(manifestBytes.toString("utf8"));
  assert.equal(manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.equal(manifest.config.mediaType, "application/vnd.docker.container.image.v1+json");
  assert.equal(manifest.config.digest, configDigest);
  assert.deepEqual(manifest.layers.map((l) => l.digest), layerDigests);
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), layerDigests.map(() => "application/vnd.docker.image.rootfs.diff.tar"));
  for (const name of await readdir(dir)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    assert.equal((await sha256File(join(dir, name))).digest, `sha256:${name}`);
  }
  assert.equal((await readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n)).length, 3);

  // the same blobs as `skopeo copy --dest-compress=false` pushes (skopeo labels them .tar.gzip)
  const bySkopeo = unique("archive-skopeo");
  await skopeo(["copy", "--dest-compress=false", "--dest-tls-verify=false", `docker-archive:${archive}`, `docker://${berth.host}/${bySkopeo}:v1`]);
  const theirs = JSON.parse((await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${berth.host}/${bySkopeo}:v1`])).stdout);
  assert.equal(theirs.config.digest, manifest.config.digest);
  assert.deepEqual(theirs.layers.map((l) => [l.digest, l.size]), manifest.layers.map((l) => [l.digest, l.size]));
});

test("berth push docker://<peer>/… streams an image out of a docker-registry into Berth, in chunks", { skip: skip || upstreamSkip }, async () => {
  const source = new URL(peers.direct.open).host;
  const repo = unique("from-peer");
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:big`, `docker://${source}/${repo}:v1`]);
  const result = await berthPush(["--insecure", `docker://${source}/${repo}:v1`, `${proxy.host}/${repo}:v1`]);
  assertPushed(result, "push");
  assert.equal(result.digest, big.digest);
  assertChunked(repo, bigSize);
  const pulled = await pullBack(`${repo}:v1`);
  assert.equal(await compareLayouts(images.dir, pulled.out, big.descriptor), 4);
});

test("berth push between two repositories of the same registry mounts every blob instead of uploading it", { skip }, async () => {
  const from = unique("mount-from");
  const to = unique("mount-to");
  assertPushed(await berthPush(["--insecure", "-q", `oci:${images.dir}:multi`, `${proxy.host}/${from}:v1`]), "first push");
  const before = proxy.requests.length;
  const result = await berthPush(["--insecure", `docker://${proxy.host}/${from}:v1`, `${proxy.host}/${to}:v1`]);
  assertPushed(result, "copy");
  assert.equal(result.digest, images.multi.digest);
  const seen = proxy.requests.slice(before).filter((r) => r.path.startsWith(`/v2/${to}/blobs/uploads/`));
  assert.ok(seen.length === 7 && seen.every((r) => r.method === "POST" && r.path.includes(`mount=`) && r.path.includes(`from=${encodeURIComponent(from)}`) && r.status === 201), JSON.stringify(seen.map((r) => [r.method, r.path, r.status])));
  assert.match(result.stderr, /7 mounted/);
});

test("a connection dropped in the middle of a chunk resumes from the registry's Range and the blob is exact", { skip }, async () => {
  const cutting = await startRecordingProxy({ target: berth.url, cutAfterBytes: 2 * 1024 * 1024, cutPatch: 2 });
  try {
    const repo = unique("resume");
    const result = await berthPush(["--insecure", "--jobs", "1", `oci:${images.dir}:big`, `${cutting.host}/${repo}:v1`]);
    assertPushed(result, "push through a dropped connection");
    assert.equal(result.digest, big.digest);
    const cutIndex = cutting.requests.findIndex((r) => r.cut);
    assert.ok(cutIndex > 0, "the proxy cut a PATCH");
    const cut = cutting.requests[cutIndex];
    assert.equal(cut.headers["content-range"], `${LIMIT}-${2 * LIMIT - 1}`, "the second chunk was cut");
    const after = cutting.requests.slice(cutIndex + 1).filter((r) => r.path.split("?")[0] === cut.path.split("?")[0]);
    assert.equal(after[0].method, "GET", "the client asked the registry how much it holds");
    assert.equal(after[0].responseHeaders.range, `0-${LIMIT - 1}`);
    assert.equal(after[1].method, "PATCH");
    assert.equal(after[1].headers["content-range"], `${LIMIT}-${2 * LIMIT - 1}`, "and sent the chunk again from there");
    assert.match(result.stderr, new RegExp(`resuming at byte ${LIMIT} of ${bigSize}`));
    const pulled = await pullBack(`${repo}:v1`);
    assert.equal(await compareLayouts(images.dir, pulled.out, big.descriptor), 4);
  } finally {
    await cutting.close();
  }
});

test("a 413 from something in front of the registry (a plan limit below MAX_CHUNK_BYTES) halves the chunks and the push goes on", { skip }, async () => {
  const edge = await startRecordingProxy({ target: berth.url, rejectAbove: 3 * 1024 * 1024 });
  try {
    const repo = unique("edge");
    const result = await berthPush(["--insecure", `oci:${images.dir}:big`, `${edge.host}/${repo}:v1`]);
    assertPushed(result, "push through a 3 MiB edge");
    assert.equal(result.digest, big.digest);
    // the 413 is seen, or lost when the edge closes the connection while the chunk is still
    // being sent (as Node's server does); either way the chunks get smaller
    assert.match(result.stderr, /sending 2621440-byte chunks instead of 5242880-byte ones/);
    const patches = edge.requests.filter((r) => r.method === "PATCH");
    assert.ok(patches.some((r) => r.status === 413), "the edge refused a chunk");
    assert.ok(patches.filter((r) => r.status === 202).every((r) => Number(r.headers["content-length"]) <= 2621440));
    const pulled = await pullBack(`${repo}:v1`);
    assert.equal(await compareLayouts(images.dir, pulled.out, big.descriptor), 4);
  } finally {
    await edge.close();
  }
});

test("token auth: push to and from the token-auth docker-registry with credentials from docker's config.json and podman's auth.json", { skip: skip || upstreamSkip }, async () => {
  const tokenHost = new URL(peers.direct.token).host;
  const { username, password } = peers.credentials;
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  const dockerConfig = makeTempDir("berth-push-docker-config-");
  await writeFile(join(dockerConfig, "config.json"), JSON.stringify({ auths: { [`http://${tokenHost}`]: { auth } } }));
  const repo = unique("token");

  const pushed = await berthPush(["--insecure", `oci:${images.dir}:app`, `${tokenHost}/${repo}:v1`], { env: { DOCKER_CONFIG: dockerConfig, REGISTRY_AUTH_FILE: "", XDG_RUNTIME_DIR: "" } });
  assertPushed(pushed, "push to the token registry");
  assert.equal(pushed.digest, images.app.digest);
  const inspected = await skopeo(["inspect", "--raw", "--tls-verify=false", "--creds", `${username}:${password}`, `docker://${tokenHost}/${repo}:v1`]);
  assert.equal(sha256(Buffer.from(inspected.stdout)), images.app.digest);

  const authFile = join(makeTempDir("berth-push-auth-"), "auth.json");
  await writeFile(authFile, JSON.stringify({ auths: { [`${tokenHost}/push`]: { auth } } })); // podman's per-namespace key
  const copied = await berthPush(["--insecure", `docker://${tokenHost}/${repo}:v1`, `${proxy.host}/${repo}:v1`], { env: { REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: makeTempDir("berth-push-empty-") } });
  assertPushed(copied, "push from the token registry");
  assert.equal(copied.digest, images.app.digest);
  const pulled = await pullBack(`${repo}:v1`);
  assert.equal(await compareLayouts(images.dir, pulled.out, images.app.descriptor), 5);

  // Tokens that live one second: every request gets a fresh one, the chunked push still works
  // (4 MiB chunks into docker-registry, which moves the upload Location after every PATCH).
  const mark = await UpstreamLog.mark();
  await fetch(`${peers.tokenServer}/__settings?expires_in=1`);
  try {
    const chunked = await berthPush(["--insecure", "--chunk-size", "4MiB", `oci:${images.dir}:big`, `${tokenHost}/${repo}:big`], { env: { DOCKER_CONFIG: dockerConfig } });
    assertPushed(chunked, "chunked push with short-lived tokens");
    assert.equal(chunked.digest, big.digest);
  } finally {
    await fetch(`${peers.tokenServer}/__settings?expires_in=300`);
  }
  const tokens = (await mark.entries(repo)).filter((e) => e.server === "token-server");
  assert.ok(tokens.length >= 8, `a token per request (${tokens.length} token requests)`);
  const back = await skopeo(["inspect", "--raw", "--tls-verify=false", "--creds", `${username}:${password}`, `docker://${tokenHost}/${repo}:big`]);
  assert.equal(sha256(Buffer.from(back.stdout)), big.digest);

  const wrong = await berthPush(["--insecure", "--creds", `${username}:wrong`, `oci:${images.dir}:app`, `${tokenHost}/${repo}:v2`]);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stdout, "");
  assert.match(wrong.stderr, /berth push: error: token request to http:\/\/127\.0\.0\.1:\d+\/token: HTTP 401.*credentials rejected/);
});

test("failures are one clear line and a non-zero exit", { skip }, async () => {
  const closed = await berthPush(["--insecure", `oci:${images.dir}:app`, `127.0.0.1:9/${unique("x")}:v1`]);
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /berth push: error: cannot reach 127\.0\.0\.1:9/);

  const selfSigned = await berthPush([`oci:${images.dir}:app`, `${proxy.host}/${unique("x")}:v1`]);
  assert.equal(selfSigned.code, 1);
  assert.match(selfSigned.stderr, /self-signed certificate\? add --insecure/);

  const noRef = await berthPush(["--insecure", `oci:${images.dir}`, `${proxy.host}/${unique("x")}:v1`]);
  assert.equal(noRef.code, 2);
  assert.match(noRef.stderr, /holds \d+ images: name one/);

  const usage = await berthPush(["--insecure", `oci:${images.dir}:app`]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected <source> <destination>/);
});
