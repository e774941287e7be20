// GET /api/v1/upstreams: configuration and traffic figures per upstream. Only this file uses the
// upstream stats.test (scripts/e2e.mjs), so its figures can be asserted exactly: requests by kind,
// cache hits and misses, bytes from the upstream and bytes served, the rate-limit headers the
// front sends (ratelimit-limit: 100;w=21600, ratelimit-remaining: 42;w=21600, 0 on a 429) and
// the last error. Figures are written after the response is sent, so the test polls briefly.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { MANIFEST_ACCEPT, berthFetch, sha256 } from "./harness.mjs";
import { buildImage, freshRepo, pushUpstream, readBody, upstreamPeers as peers, upstreamSkip as skip, upstreamStats } from "./upstream.mjs";

before(() => {
  if (skip) console.error(`\n*** SKIPPING /api/v1/upstreams tests: ${skip} ***\n`);
});

/** Polls stats.test's figures until `ready(stats)` holds (or 10 s passed); returns the last ones. */
async function statsWhen(ready) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stats = (await upstreamStats())["stats.test"].stats;
    if (ready(stats) || Date.now() > deadline) return stats;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a manifest by tag and every blob of the image, fully, through stats.test. */
async function pullByHand(repo, img) {
  const manifest = await berthFetch(`/v2/stats.test/${repo}/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(manifest.status, 200);
  assert.equal(sha256(Buffer.from(await manifest.arrayBuffer())), img.image.digest);
  for (const blob of img.blobs) {
    const response = await berthFetch(`/v2/stats.test/${repo}/blobs/${blob.digest}`);
    assert.equal(response.status, 200);
    const { bytes, error } = await readBody(response);
    assert.equal(error, undefined);
    assert.equal(sha256(bytes), blob.digest);
  }
}

test("GET /api/v1/upstreams lists every configured upstream with its settings", { skip }, async () => {
  const all = await upstreamStats();
  assert.deepEqual(Object.keys(all).sort(), ["anon.test", "basic.test", "docker.io", "down.test", "faults.test", "fresh.test", "open.test", "stats.test", "token.test"]);
  assert.equal(all["open.test"].url, peers.open);
  assert.equal(all["open.test"].tagTtlSeconds, 3600);
  assert.equal(all["fresh.test"].tagTtlSeconds, 0);
  assert.equal(all["basic.test"].authenticated, true, "credentials from secrets");
  assert.equal(all["open.test"].authenticated, false);
  assert.equal(all["docker.io"].default, true, "DEFAULT_UPSTREAM");
  assert.deepEqual(all["docker.io"].aliases, ["index.docker.io"]);
  assert.ok(!JSON.stringify(all).includes(peers.credentials.password), "no secret in the answer");
});

test("requests by kind, hits and misses, bytes and rate-limit figures are exact", { skip }, async () => {
  const repo = freshRepo("stats");
  const img = await buildImage({ label: "stats" });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const manifestSize = img.image.manifestBytes.length;
  const blobBytes = img.blobs.reduce((n, b) => n + b.size, 0);
  const objects = 1 + img.blobs.length;

  const base = (await upstreamStats())["stats.test"].stats;
  const at = (stats) => ({
    requests: stats.requests,
    cacheHits: stats.cacheHits - base.cacheHits,
    cacheMisses: stats.cacheMisses - base.cacheMisses,
    bytesFromUpstream: stats.bytesFromUpstream - base.bytesFromUpstream,
    bytesServed: stats.bytesServed - base.bytesServed,
  });
  const plus = (kind, n) => (base.requests[kind] ?? 0) + n;

  // cold: one GET for the manifest, one per blob
  await pullByHand(repo, img);
  const cold = {
    requests: { ...base.requests, "get-manifest": plus("get-manifest", 1), "get-blob": plus("get-blob", img.blobs.length) },
    cacheHits: 0,
    cacheMisses: objects,
    bytesFromUpstream: manifestSize + blobBytes,
    bytesServed: manifestSize + blobBytes,
  };
  let stats = await statsWhen((s) => JSON.stringify(at(s)) === JSON.stringify(cold));
  assert.deepEqual(at(stats), cold);
  assert.equal(stats.rateLimit.limit, 100);
  assert.equal(stats.rateLimit.remaining, 42);
  assert.equal(stats.rateLimit.windowSeconds, 21600);

  // warm: hits only, no upstream request
  await pullByHand(repo, img);
  const warm = { ...cold, cacheHits: objects, bytesServed: 2 * (manifestSize + blobBytes) };
  stats = await statsWhen((s) => JSON.stringify(at(s)) === JSON.stringify(warm));
  assert.deepEqual(at(stats), warm);

  // a 429: counted, remembered as the last error, remaining 0
  const limited = await berthFetch(`/v2/stats.test/status-429/${repo}/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "17");
  await limited.arrayBuffer();
  stats = await statsWhen((s) => s.rateLimit?.remaining === 0 && s.requests["get-manifest"] === plus("get-manifest", 2));
  assert.equal(stats.rateLimit.remaining, 0);
  assert.equal(stats.requests["get-manifest"], plus("get-manifest", 2));
  assert.match(stats.lastError.message, /stats\.test rate limit exceeded/);
  assert.ok(Date.now() - stats.lastError.at < 60_000);
});
