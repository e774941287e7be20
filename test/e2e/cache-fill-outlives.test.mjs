// A cache fill outlives the client that started it (issue #12, part 2). On the platform a
// request's waitUntil is cut ~30 s after the response, so the fill is owned by the blob's
// Durable Object and runs in its alarm, in slices of FILL_SLICE_SECONDS, each resuming the
// upstream body with a Range request from the last stored part.
//
// Here: a ~24 MiB layer behind a slow network (the front's `trickle` mode, 4 MiB/s in front of
// the real docker-registry) takes longer than several 3 s slices; the client hangs up right after
// the response headers. Berth still ends up with the blob, from one upstream GET from byte 0 plus
// Range GETs from increasing part boundaries, and skopeo pulls the whole image bit-identical
// without the upstream being asked for that layer again.
// Starts its own wrangler dev (FILL_SLICE_SECONDS 3). Runs only with --target=wrangler.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { compareLayouts, makeTempDir, readLayout, sha256, skopeo } from "./harness.mjs";
import { startWrangler, upstreamVars } from "../../scripts/e2e.mjs";
import { UpstreamLog, buildImage, clearFault, freshRepo, pushUpstream, readBody, setFault, upstreamPeers as peers, upstreamSkip } from "./upstream.mjs";

const PART = 8 * 1024 * 1024; // PART_SIZE in src/registry/upload-session.ts
const SLICE_SECONDS = 3;
const RATE = 4 * 1024 * 1024; // bytes/s: one part and a half per slice

const skip = upstreamSkip || (process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev");
let berth;

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING fill-outlives test: ${skip} ***\n`);
  berth = await startWrangler({ workDir: makeTempDir("berth-outlives-"), extraArgs: [...upstreamVars(peers), "--var", `FILL_SLICE_SECONDS:${SLICE_SECONDS}`] });
});

after(async () => {
  await berth?.stop();
});

const berthFetch = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });

test("a cold layer is cached although its client hung up at once: one GET from byte 0, Range GETs from part boundaries, then a bit-identical pull", { skip, timeout: 300_000 }, async () => {
  const repo = freshRepo("outlives");
  const img = await buildImage({ label: "outlives", bigBytes: 24 * 1024 * 1024 });
  await pushUpstream(peers.direct.open, repo, "v1", img.dir, img.image.descriptor);
  const layer = img.image.manifest.layers[1];
  assert.ok(layer.size > 2 * PART, `the layer spans three parts (${layer.size} bytes)`);
  const path = `/v2/open.test/${repo}/blobs/${layer.digest}`;
  const blobGets = async (log) => (await log.entries(repo)).filter((e) => e.method === "GET" && e.path.endsWith(`/blobs/${layer.digest}`));

  await setFault(peers.open, repo, "trickle", { match: "blobs", rate: RATE });
  const log = await UpstreamLog.mark();
  const t0 = Date.now();
  try {
    // The client hangs up right after the response headers.
    const controller = new AbortController();
    const first = await berthFetch(path, { signal: controller.signal });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-length"), String(layer.size));
    controller.abort();
    await first.body?.cancel().catch(() => {});

    // Poll until Berth has the blob: a Range GET of the last byte is answered only once that
    // byte is stored. It asks the upstream nothing (the fill that runs has the blob coming).
    let last;
    for (;;) {
      last = await berthFetch(path, { headers: { Range: `bytes=${layer.size - 1}-${layer.size - 1}` } });
      if (last.status === 206) break;
      await last.arrayBuffer();
      assert.ok(Date.now() - t0 < 240_000, `not cached after ${Date.now() - t0} ms (last answer ${last.status})`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const lastByte = Buffer.from(await last.arrayBuffer());
    const elapsed = Date.now() - t0;
    assert.ok(elapsed > 2 * SLICE_SECONDS * 1000, `the trickle took longer than two slices (${elapsed} ms)`);

    const gets = await blobGets(log);
    console.error(`fill of ${layer.size} bytes took ${elapsed} ms; upstream blob GETs: ${gets.map((e) => e.range ?? "(from 0)").join(", ")}`);
    assert.equal(gets[0].range, undefined, "the first GET is from byte 0");
    assert.ok(gets.length >= 3, `the fill ran in several slices, each resuming with a Range GET: ${JSON.stringify(gets)}`);
    const starts = gets.slice(1).map((e) => {
      const match = /^bytes=(\d+)-$/.exec(e.range ?? "");
      assert.ok(match, `a resumption asks for the rest from a byte: ${e.range}`);
      return Number(match[1]);
    });
    starts.forEach((start, i) => {
      assert.equal(start % PART, 0, `resumption ${i + 1} starts at a part boundary: ${start}`);
      assert.ok(start > (starts[i - 1] ?? 0), `resumptions start further on each time: ${starts}`);
    });

    // The whole blob from Berth, exact, and no further upstream request for it.
    const whole = await readBody(await berthFetch(path));
    assert.equal(whole.error, undefined);
    assert.equal(sha256(whole.bytes), layer.digest);
    assert.ok(lastByte.equals(whole.bytes.subarray(layer.size - 1)), "the Range answer is the last byte");
    assert.equal((await blobGets(log)).length, gets.length, "served from R2 once stored");
  } finally {
    await clearFault(peers.open, repo);
  }

  // skopeo pulls the whole image through Berth, bit-identical; the big layer is not fetched again.
  const pullLog = await UpstreamLog.mark();
  const out = makeTempDir("berth-outlives-pull-");
  const pulled = await skopeo(["copy", "--src-tls-verify=false", `docker://${berth.host}/open.test/${repo}:v1`, `oci:${out}:pulled`], { timeoutMs: 180_000 });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await readLayout(out)).refs.get("pulled").digest, img.image.digest);
  assert.equal(await compareLayouts(img.dir, out, img.image.descriptor), 5);
  assert.deepEqual(await blobGets(pullLog), [], "the layer came from Berth's copy");
});
