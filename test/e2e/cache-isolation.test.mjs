// Repository isolation through the pull-through cache, with skopeo and plain HTTP probes
// against the shared wrangler dev (upstream open.test, see scripts/e2e.mjs): a blob pushed only
// to a hosted repository is not readable, not probable and not mountable through a cached
// repository (/v2/<upstream>/<anything>/…) or ?ns=; a refused push into a cached repository
// (skopeo HEADs every blob first) is answered 404 for those blobs and links nothing.
// Mirror mode's un-prefixed names are covered in cache-mirror.test.mjs.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { BERTH_HOST, berthFetch, describe, skopeo } from "./harness.mjs";
import { UpstreamLog, buildImage, freshRepo, short, upstreamSkip as skip } from "./upstream.mjs";

before(() => {
  if (skip) console.error(`\n*** SKIPPING cache isolation tests: ${skip} ***\n`);
});

/** Pushes a fresh image with skopeo to a new hosted repository; returns {repo, img}. */
async function pushHosted(label) {
  const img = await buildImage({ label, bigBytes: 64 * 1024 });
  const repo = freshRepo(label);
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${BERTH_HOST}/${repo}:v1`]);
  return { repo, img };
}

test("a hosted blob is neither read nor probed through a cached repository or ?ns=, and cannot be mounted from one", { skip }, async () => {
  const { repo: owner, img } = await pushHosted("iso-owner");
  const bait = freshRepo("iso-bait");
  const thief = freshRepo("iso-thief");
  const log = await UpstreamLog.mark();
  for (const blob of img.blobs) {
    for (const path of [`/v2/open.test/${bait}/blobs/${blob.digest}`, `/v2/${bait}/blobs/${blob.digest}?ns=open.test`]) {
      for (const method of ["GET", "HEAD"]) {
        const response = await berthFetch(path, { method });
        assert.equal(response.status, 404, `${method} ${path}: ${await describe(response)}`);
      }
    }
    const mount = await berthFetch(`/v2/${thief}/blobs/uploads/?mount=${blob.digest}&from=open.test/${bait}`, { method: "POST" });
    assert.equal(mount.status, 202, `a mount from the cached repository falls back to an upload: ${await describe(mount)}`);
    await berthFetch(mount.headers.get("location"), { method: "DELETE" });
    assert.equal((await berthFetch(`/v2/${thief}/blobs/${blob.digest}`, { method: "HEAD" })).status, 404);
  }
  // Berth asked the upstream (HEAD only: the bytes are here, only its word was missing) and got 404s.
  const lines = await log.summary(bait);
  assert.ok(lines.length > 0 && lines.every((line) => line.startsWith(`open HEAD /v2/${bait}/blobs/`)), lines.join("\n"));
  const usage = await berthFetch(`/api/v1/repositories/open.test/${bait}/usage`);
  assert.equal(usage.status, 404, "the cached repository holds nothing");
  await usage.arrayBuffer();
  // The owner still has every blob.
  for (const blob of img.blobs) assert.equal((await berthFetch(`/v2/${owner}/blobs/${blob.digest}`, { method: "HEAD" })).status, 200);
});

test("skopeo copy of a hosted image into a cached repository is refused; its blob HEADs answer 404 and nothing is linked", { skip }, async () => {
  const { img } = await pushHosted("iso-refused");
  const cached = freshRepo("iso-cached");
  const log = await UpstreamLog.mark();
  const r = await skopeo(["copy", "--dest-tls-verify=false", `oci:${img.dir}:image`, `docker://${BERTH_HOST}/open.test/${cached}:v1`], { allowFail: true });
  assert.notEqual(r.code, 0, "the push must fail");
  assert.match(r.stderr, /denied|read-only/i);
  assert.doesNotMatch(r.stderr, /already exists/i);
  for (const blob of img.blobs) {
    const head = await berthFetch(`/v2/open.test/${cached}/blobs/${blob.digest}`, { method: "HEAD" });
    assert.equal(head.status, 404, `HEAD ${short(blob.digest)} in the cached repository`);
  }
  const lines = await log.summary(cached);
  assert.ok(lines.every((line) => line.startsWith(`open HEAD /v2/${cached}/blobs/`)), `only blob HEADs reached the upstream:\n${lines.join("\n")}`);
  const usage = await berthFetch(`/api/v1/repositories/open.test/${cached}/usage`);
  assert.equal(usage.status, 404, "no usage: nothing was linked");
  await usage.arrayBuffer();
  const listed = await (await berthFetch("/api/v1/repositories")).json();
  assert.ok(!JSON.stringify(listed).includes(cached), "the cached repository is not listed");
});
