// Pull-through cache under upstream faults, injected by the logging front of the open registry
// (test/upstream/peers/front.mjs, switched on and off at runtime with POST/DELETE /__fault):
// 500, 503, 429, a dropped connection, headers that never come, a truncated body, a body with
// the wrong bytes, a body that stalls — on blobs, on manifests never cached, and on the HEAD that
// revalidates a cached tag. Each time the client gets a clear error (or the stale but valid
// cached tag with a Warning header), nothing corrupt is cached, and once the fault is gone the
// same request and a whole pull succeed. Plus an upstream that refuses connections (down.test).
// Upstream faults.test: the open front, tagTtlSeconds 0 (every tag pull revalidates),
// timeoutSeconds 2 (for headers and between body chunks).
//
// This file starts its own wrangler dev (same upstreams): several tests make Berth abort a
// response mid-body, and wrangler's dev proxy keeps the connection it sent that response on in
// its pool; the next non-GET request to draw it fails with a misleading 503 "Your worker
// restarted mid-request" (GETs are retried). Other files' pushes must not inherit that.
// Runs only with --target=wrangler.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { MANIFEST_ACCEPT, compareLayouts, makeTempDir, readBlob, readLayout, sha256, skopeo } from "./harness.mjs";
import { startWrangler, upstreamVars } from "../../scripts/e2e.mjs";
import {
  UpstreamLog, buildImage, clearFault, freshRepo, pushUpstream, readBody, setFault, short, upstreamPeers as peers, upstreamSkip,
} from "./upstream.mjs";

const ACCEPT = { Accept: MANIFEST_ACCEPT };
const TIMEOUT_S = 2; // faults.test's timeoutSeconds (scripts/e2e.mjs)

const skip = upstreamSkip || (process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev");
let berth;

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING pull-through cache fault tests: ${skip} ***\n`);
  // FILL_RETRIES 0: a blob fill gives up at its first failure, as a fill does once its retries
  // are spent (cache-fill-outlives and test/upstream/cache-fill test the retries themselves), so
  // the client's error comes within the bounds asserted here and not after a minute of backoff.
  berth = await startWrangler({ workDir: makeTempDir("berth-faults-"), extraArgs: [...upstreamVars(peers), "--var", "FILL_RETRIES:0"] });
});

after(async () => {
  await berth?.stop();
});

const berthFetch = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });

/** A fresh image at the open registry as faults/<label>-<random>:v1. */
async function freshImage(label) {
  const repo = freshRepo(`faults-${label}`).replace(/^e2e\//, "faults/");
  const img = await buildImage({ label, bigBytes: 256 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  return { repo, img, layer: img.image.manifest.layers[1] };
}

/** A request through Berth, body read to the end (or to where it broke). */
async function attempt(path, init = {}) {
  const t0 = Date.now();
  const response = await berthFetch(path, init);
  const { bytes, error } = await readBody(response);
  let json;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    // not an error body
  }
  return { status: response.status, headers: response.headers, bytes, error, json, ms: Date.now() - t0, code: json?.errors?.[0]?.code, message: json?.errors?.[0]?.message ?? "" };
}

async function pull(path) {
  const out = makeTempDir("berth-fault-pull-");
  const r = await skopeo(["copy", "--src-tls-verify=false", `docker://${berth.host}/${path}`, `oci:${out}:pulled`], { allowFail: true, timeoutMs: 120_000 });
  const refs = r.code === 0 ? (await readLayout(out)).refs : new Map();
  return { ...r, out, descriptor: refs.get("pulled") };
}

/** After recovery: the same image pulls completely and bit-identical. */
async function pullsAfterRecovery(repo, img) {
  const ok = await pull(`faults.test/${repo}:v1`);
  assert.equal(ok.code, 0, `pull after recovery: ${ok.stderr}`);
  assert.equal(ok.descriptor.digest, img.image.digest);
  assert.equal(await compareLayouts(img.dir, ok.out, img.image.descriptor), 5);
}

/** What the client must see for each status fault (the front's bodies and headers). */
const STATUS = {
  "status-500": { status: 502, code: "UPSTREAM_UNAVAILABLE", message: /500/ },
  "status-503": { status: 503, code: "UPSTREAM_UNAVAILABLE", message: /503/, retryAfter: "5" },
  "status-429": { status: 429, code: "TOOMANYREQUESTS", message: /rate limit/, retryAfter: "17" },
  drop: { status: 502, code: "UPSTREAM_UNAVAILABLE", message: /unreachable/ },
  "slow-headers": { status: 504, code: "UPSTREAM_UNAVAILABLE", message: new RegExp(`within ${TIMEOUT_S} s`) },
};

function assertErrorAnswer(r, mode, what) {
  const want = STATUS[mode];
  assert.equal(r.status, want.status, `${what}: ${r.status} ${r.bytes.toString("utf8").slice(0, 300)}`);
  assert.equal(r.code, want.code, `${what}: OCI error code`);
  assert.match(r.message, want.message, `${what}: message`);
  assert.match(r.message, /faults\.test/, `${what}: the message names the upstream`);
  if (want.retryAfter) assert.equal(r.headers.get("retry-after"), want.retryAfter, `${what}: Retry-After`);
  assert.ok(r.ms < (TIMEOUT_S + 8) * 1000, `${what}: answered in ${r.ms} ms, not a hang`);
}

// ---------------------------------------------------------------------------
// Blobs

for (const [mode, chunked] of [
  ["status-500"], ["status-503"], ["status-429"], ["drop"], ["slow-headers"], ["truncated"], ["corrupt"], ["slow-body"],
  // without Content-Length the blob is stored whole before the client gets an answer
  ["truncated", true], ["corrupt", true],
]) {
  test(`blob GET, upstream ${mode}${chunked ? " (chunked, no Content-Length)" : ""}: clear failure, nothing cached, the same GET and the pull succeed after recovery`, { skip }, async () => {
    const { repo, img, layer } = await freshImage(mode);
    const path = `/v2/faults.test/${repo}/blobs/${layer.digest}`;
    await setFault(peers.open, repo, mode, { match: "blobs", chunked });
    try {
      const first = await attempt(path);
      if (STATUS[mode]) {
        assertErrorAnswer(first, mode, "GET");
      } else if (chunked || first.status !== 200) {
        // Without a length the blob is stored before any answer; with one, the fill (run by the
        // blob index, not this request) may fail before the client was answered: a clear 502.
        assert.equal(first.status, 502, `${first.status} ${first.message}`);
        assert.equal(first.code, "UPSTREAM_UNAVAILABLE");
        assert.match(first.message, mode === "corrupt" ? /digest/ : /broke|ended/);
      } else {
        // Headers (with the length) went out before the upstream's body failed: the client
        // sees the transfer break, never a complete body.
        assert.equal(first.status, 200);
        assert.equal(first.headers.get("content-length"), String(layer.size));
        assert.ok(first.error || first.bytes.length !== layer.size, `${mode}: the body must not arrive complete (${first.bytes.length} of ${layer.size} bytes)`);
        assert.notEqual(sha256(first.bytes), layer.digest);
        assert.ok(first.ms < (TIMEOUT_S + 8) * 1000, `ended after ${first.ms} ms`);
      }

      // Still faulty: nothing was cached, so a HEAD goes upstream again (a fresh fetch) and a
      // GET fails again instead of serving stored bytes.
      const log = await UpstreamLog.mark();
      const head = await berthFetch(path, { method: "HEAD" });
      await head.arrayBuffer();
      assert.ok([404, 429, 502, 503, 504, 200].includes(head.status), `HEAD: ${head.status}`);
      if (head.status === 200) assert.equal(head.headers.get("content-length"), String(layer.size));
      assert.ok(
        (await log.summary(repo)).includes(`open GET /v2/${repo}/blobs/${short(layer.digest)}`),
        `HEAD of a blob that is not cached starts a fresh fetch: ${await log.summary(repo)}`,
      );
      const second = await attempt(path);
      assert.ok(second.status !== 200 || second.error || sha256(second.bytes) !== layer.digest, "still failing while the upstream is faulty");
    } finally {
      await clearFault(peers.open, repo);
    }

    const log = await UpstreamLog.mark();
    const ok = await attempt(path);
    assert.equal(ok.status, 200, ok.message);
    assert.equal(ok.error, undefined);
    assert.equal(ok.headers.get("content-length"), String(layer.size));
    assert.equal(sha256(ok.bytes), layer.digest, "the right bytes after recovery");
    assert.deepEqual(await log.summary(repo), [`open GET /v2/${repo}/blobs/${short(layer.digest)}`], "fetched fresh from the recovered upstream");
    await pullsAfterRecovery(repo, img);
  });
}

test("a client that hangs up during a cold blob download does not stop the fill", { skip, timeout: 60_000 }, async () => {
  const repo = freshRepo("hangup");
  const img = await buildImage({ label: "hangup", bigBytes: 8 * 1024 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const layer = img.image.manifest.layers[1];
  const path = `/v2/open.test/${repo}/blobs/${layer.digest}`;

  const log = await UpstreamLog.mark();
  const controller = new AbortController();
  const first = await berthFetch(path, { signal: controller.signal });
  assert.equal(first.status, 200);
  const reader = first.body.getReader();
  let received = 0;
  while (received < 64 * 1024) received += (await reader.read()).value.length;
  controller.abort();
  await reader.cancel().catch(() => {});

  // the fill goes on for R2: the next client gets the whole layer, without a second upstream GET
  const t0 = Date.now();
  const second = await berthFetch(path);
  assert.equal(second.status, 200);
  const { bytes, error } = await readBody(second);
  assert.equal(error, undefined);
  assert.equal(sha256(bytes), layer.digest);
  assert.ok(Date.now() - t0 < 30_000, `served after ${Date.now() - t0} ms`);
  assert.deepEqual(await log.summary(), [`open GET /v2/${repo}/blobs/${short(layer.digest)}`]);
});

for (const mode of ["truncated", "corrupt"]) {
  test(`Range GET of a cold blob, upstream ${mode}: 502 with the upstream's failure, nothing cached, 206 after recovery`, { skip }, async () => {
    const { repo, layer, img } = await freshImage(`range-${mode}`);
    const path = `/v2/faults.test/${repo}/blobs/${layer.digest}`;
    const range = { Range: "bytes=100-1099" };
    await setFault(peers.open, repo, mode, { match: "blobs" });
    try {
      const r = await attempt(path, { headers: range });
      assert.equal(r.status, 502, `${r.status} ${r.message}`);
      assert.equal(r.code, "UPSTREAM_UNAVAILABLE", "the upstream failed, not the client's upload");
      assert.match(r.message, /upstream faults\.test/);
      assert.match(r.message, mode === "corrupt" ? /content has digest/ : /broke|ended/);
    } finally {
      await clearFault(peers.open, repo);
    }
    const ok = await attempt(path, { headers: range });
    assert.equal(ok.status, 206, ok.message);
    assert.ok(ok.bytes.equals((await readBlob(img.dir, layer.digest)).subarray(100, 1100)));
  });
}

// ---------------------------------------------------------------------------
// Manifests not cached yet

for (const mode of ["status-500", "status-503", "status-429", "drop", "slow-headers", "truncated", "corrupt", "slow-body"]) {
  test(`manifest GET of a tag not cached, upstream ${mode}: clear error, nothing cached, the pull succeeds after recovery`, { skip }, async () => {
    const { repo, img } = await freshImage(`m-${mode}`);
    await setFault(peers.open, repo, mode, { match: "manifests" });
    try {
      const first = await attempt(`/v2/faults.test/${repo}/manifests/v1`, { headers: ACCEPT });
      if (STATUS[mode]) {
        assertErrorAnswer(first, mode, "GET tag");
      } else {
        // the manifest is read whole and checked before anything is sent
        assert.equal(first.status, mode === "slow-body" ? 504 : 502, `${first.status} ${first.message}`);
        assert.equal(first.code, "UPSTREAM_UNAVAILABLE");
        assert.match(first.message, mode === "corrupt" ? /digest/ : mode === "slow-body" ? /no data for/ : /ended after|broke/);
      }
      if (mode !== "status-429") {
        // (skopeo would honour the 17 s Retry-After of a 429 several times over)
        const skopeoRun = await pull(`faults.test/${repo}:v1`);
        assert.notEqual(skopeoRun.code, 0, "skopeo fails while the upstream is faulty");
      }
      // by digest too: nothing was stored under the digest either
      const byDigest = await attempt(`/v2/faults.test/${repo}/manifests/${img.image.digest}`, { headers: ACCEPT });
      assert.notEqual(byDigest.status, 200);
    } finally {
      await clearFault(peers.open, repo);
    }
    const ok = await attempt(`/v2/faults.test/${repo}/manifests/v1`, { headers: ACCEPT });
    assert.equal(ok.status, 200, ok.message);
    assert.equal(sha256(ok.bytes), img.image.digest);
    await pullsAfterRecovery(repo, img);
  });
}

// ---------------------------------------------------------------------------
// Cached tags: revalidation fails → stale but valid, with a Warning

for (const mode of ["status-500", "status-503", "status-429", "drop", "slow-headers"]) {
  test(`cached tag, revalidation gets ${mode}: the stale manifest is served with a Warning; the pull succeeds`, { skip }, async () => {
    const { repo, img } = await freshImage(`s-${mode}`);
    await pullsAfterRecovery(repo, img); // cached (fresh and complete)
    const path = `/v2/faults.test/${repo}/manifests/v1`;
    await setFault(peers.open, repo, mode, { match: "manifests" });
    try {
      const log = await UpstreamLog.mark();
      const get = await attempt(path, { headers: ACCEPT });
      assert.equal(get.status, 200, get.message);
      assert.equal(sha256(get.bytes), img.image.digest, "the cached manifest, byte-exact");
      assert.equal(get.headers.get("docker-content-digest"), img.image.digest);
      assert.match(get.headers.get("warning") ?? "", /^110 - ".*faults\.test.*"$/, "Warning: 110 names the upstream");
      assert.deepEqual(await log.summary(repo), [`open HEAD /v2/${repo}/manifests/v1`], "only the HEAD that failed");

      const head = await attempt(path, { method: "HEAD", headers: ACCEPT });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("docker-content-digest"), img.image.digest);
      assert.match(head.headers.get("warning") ?? "", /^110 - /, "HEAD carries the Warning too");

      if (mode !== "slow-headers") await pullsAfterRecovery(repo, img); // stale manifest + cached blobs
    } finally {
      await clearFault(peers.open, repo);
    }
    const log = await UpstreamLog.mark();
    const fresh = await attempt(path, { headers: ACCEPT });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers.get("warning"), null, "revalidated: no Warning");
    assert.deepEqual(await log.summary(repo), [`open HEAD /v2/${repo}/manifests/v1`]);
  });
}

for (const [mode, message] of [
  ["status-429", undefined],
  // the upstream's words end up in the Warning: quotes, a line break, non-Latin-1, clipped with …
  ["status-500", `the "backend" said:\nnö ${"x".repeat(400)}`],
]) {
  test(`tag moved upstream, HEAD answers but the GET of the new manifest gets ${mode}: the stale manifest is served with a Warning`, { skip }, async () => {
    const { repo, img } = await freshImage(`moved-${mode}`);
    await pullsAfterRecovery(repo, img);
    const next = await buildImage({ label: "moved-next" });
    await pushUpstream(peers.direct.open, repo, "v1", next.dir, next.image.descriptor);
    const path = `/v2/faults.test/${repo}/manifests/v1`;
    // Docker Hub's way: a HEAD is free, the GET counts and is refused
    await setFault(peers.open, repo, mode, { match: "manifests", method: "GET", message });
    try {
      const log = await UpstreamLog.mark();
      const stale = await attempt(path, { headers: ACCEPT });
      assert.equal(stale.status, 200, stale.message);
      assert.equal(sha256(stale.bytes), img.image.digest, "the tag as last validated");
      const warning = stale.headers.get("warning") ?? "";
      assert.match(warning, /^110 - ".*faults\.test.*"$/);
      if (message) assert.match(warning, /the \\"backend\\" said: n/, "quotes escaped, the line break and ö replaced");
      assert.deepEqual(await log.summary(repo), [`open HEAD /v2/${repo}/manifests/v1`, `open GET /v2/${repo}/manifests/${short(next.image.digest)}`]);
      const head = await attempt(path, { method: "HEAD", headers: ACCEPT });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("docker-content-digest"), img.image.digest);
    } finally {
      await clearFault(peers.open, repo);
    }
    const moved = await attempt(path, { headers: ACCEPT });
    assert.equal(moved.status, 200);
    assert.equal(sha256(moved.bytes), next.image.digest, "the new manifest once the upstream lets us");
    assert.equal(moved.headers.get("warning"), null);
  });
}

test("a tag the upstream no longer has answers MANIFEST_UNKNOWN, not the stale copy", { skip }, async () => {
  const { repo, img } = await freshImage("gone");
  await pullsAfterRecovery(repo, img);
  const del = await fetch(`${peers.direct.open}/v2/${repo}/manifests/${img.image.digest}`, { method: "DELETE" });
  assert.equal(del.status, 202);
  const r = await attempt(`/v2/faults.test/${repo}/manifests/v1`, { headers: ACCEPT });
  assert.equal(r.status, 404, r.message);
  assert.equal(r.code, "MANIFEST_UNKNOWN");
  // content by digest stays immutable and served from the cache
  const byDigest = await attempt(`/v2/faults.test/${repo}/manifests/${img.image.digest}`, { headers: ACCEPT });
  assert.equal(byDigest.status, 200);
  assert.equal(sha256(byDigest.bytes), img.image.digest);
});

// ---------------------------------------------------------------------------
// An upstream that is down

test("an upstream that refuses connections: a clear 502 quickly, for manifests and blobs", { skip }, async () => {
  for (const [path, init] of [
    ["/v2/down.test/seed/single/manifests/v1", { headers: ACCEPT }],
    ["/v2/down.test/seed/single/manifests/v1", { method: "HEAD", headers: ACCEPT }],
    [`/v2/down.test/seed/single/blobs/sha256:${"1".repeat(64)}`, {}],
  ]) {
    const r = await attempt(path, init);
    assert.equal(r.status, 502, `${init.method ?? "GET"} ${path}: ${r.status} ${r.message}`);
    assert.ok(r.ms < 5000, `answered in ${r.ms} ms`);
    if (init.method !== "HEAD") {
      assert.equal(r.code, "UPSTREAM_UNAVAILABLE");
      assert.match(r.message, /down\.test unreachable/);
    }
  }
  const r = await pull("down.test/seed/single:v1");
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /down\.test unreachable|502/);
});

test("the whole upstream gone (connections dropped): a cached image still pulls by tag and by digest", { skip }, async () => {
  const { repo, img } = await freshImage("gone-all");
  await pullsAfterRecovery(repo, img);
  await setFault(peers.open, repo, "drop");
  try {
    const byTag = await pull(`faults.test/${repo}:v1`);
    assert.equal(byTag.code, 0, byTag.stderr);
    assert.equal(await compareLayouts(img.dir, byTag.out, img.image.descriptor), 5);
    const byDigest = await pull(`faults.test/${repo}@${img.image.digest}`);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    // an image never pulled fails clearly
    const other = await attempt(`/v2/faults.test/${repo}/manifests/other`, { headers: ACCEPT });
    assert.equal(other.status, 502);
    assert.equal(other.code, "UPSTREAM_UNAVAILABLE");
  } finally {
    await clearFault(peers.open, repo);
  }
});
