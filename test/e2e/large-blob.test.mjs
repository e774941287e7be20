// Large blob (default 256 MiB, BERTH_LARGE_BLOB_MIB) of pseudo-random bytes, generated while
// streaming (never whole in memory, here or — the point of the test — in the registry):
//   1. ONE PATCH of unknown length (ReadableStream body: Transfer-Encoding: chunked), PUT ?digest=
//   2. several PATCHes (BERTH_CHUNK_MIB, default 48 MiB) with Content-Range and Content-Length
// Each is pulled back with GET and compared by a sha256 computed while streaming; Range GETs of
// slices are compared with the regenerated slice.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  requireTarget, uniqueRepo, berthFetch, resolveLocation, withQuery, describe, randomStream,
  randomDigest, sha256Stream,
} from "./harness.mjs";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BERTH_LARGE_BLOB_MIB || 256) * MiB;
const CHUNK = Number(process.env.BERTH_CHUNK_MIB || 48) * MiB;
const TIMEOUT = 30 * 60 * 1000;
const repo = uniqueRepo("large");
const run = randomBytes(6).toString("hex");

/** Blobs uploaded by the tests below: {seed, digest, size}. */
const uploaded = {};

before(() => requireTarget());

const mbps = (bytes, ms) => `${((bytes / MiB) / (ms / 1000)).toFixed(1)} MiB/s`;

async function startUpload() {
  const res = await berthFetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(res.status, 202, `POST uploads: ${await describe(res.clone())}`);
  await res.body?.cancel();
  return {
    location: resolveLocation(res.headers.get("location")),
    minChunk: Number(res.headers.get("oci-chunk-min-length") || 0),
    maxChunk: Number(res.headers.get("oci-chunk-max-length") || 0),
  };
}

async function finishUpload(location, digest) {
  let res = await berthFetch(withQuery(location, { digest }), { method: "PUT" });
  // wrangler dev's local proxy sometimes loses its connection to workerd right after a long
  // chunked PATCH and answers 503 "Your worker restarted mid-request" without the Worker
  // seeing the PUT (it retries only GET/HEAD itself). A client retries such a 503; so do we,
  // once, after checking the upload session is intact. Anything else still fails the test.
  const text = res.status === 503 ? await res.clone().text() : "";
  if (res.status === 503 && text.includes("restarted mid-request")) {
    console.log("  [large-blob] wrangler dev dropped the PUT (worker restarted mid-request); retrying once");
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000));
    const status = await berthFetch(location, { method: "GET" });
    assert.equal(status.status, 204, `upload status after the dropped PUT: ${await describe(status.clone())}`);
    await status.body?.cancel();
    res = await berthFetch(withQuery(location, { digest }), { method: "PUT" });
  }
  assert.equal(res.status, 201, `PUT ?digest=: ${await describe(res.clone())}`);
  assert.equal(res.headers.get("docker-content-digest"), digest, "Docker-Content-Digest of the committed blob");
  assert.ok(res.headers.get("location"), "PUT answers a Location");
  await res.body?.cancel();
}

async function pullAndCompare(digest, size) {
  const head = await berthFetch(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  assert.equal(head.status, 200, `HEAD blob: ${head.status}`);
  assert.equal(head.headers.get("content-length"), String(size), "HEAD Content-Length");
  assert.equal(head.headers.get("docker-content-digest"), digest);

  const t0 = Date.now();
  const res = await berthFetch(`/v2/${repo}/blobs/${digest}`, { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.status, 200, `GET blob: ${await describe(res.clone())}`);
  assert.equal(res.headers.get("content-length"), String(size), "GET Content-Length");
  assert.equal(res.headers.get("content-encoding"), null, "blob not re-encoded");
  const got = await sha256Stream(res.body);
  const ms = Date.now() - t0;
  assert.equal(got.size, size, "bytes received");
  assert.equal(got.digest, digest, "sha256 of the pulled blob");
  console.error(`  [large-blob] GET ${size / MiB} MiB in ${ms} ms (${mbps(size, ms)})`);
}

test(`${SIZE / MiB} MiB blob pushed as ONE PATCH of unknown length`, { timeout: TIMEOUT }, async () => {
  const seed = `one-patch-${run}`;
  const { location } = await startUpload();
  const hash = createHash("sha256");
  let sent = 0;
  const body = randomStream(seed, SIZE, {
    onChunk: (c) => {
      hash.update(c);
      sent += c.length;
    },
  });
  const t0 = Date.now();
  const res = await berthFetch(location, {
    method: "PATCH",
    body,
    duplex: "half",
    headers: { "Content-Type": "application/octet-stream" },
  });
  const ms = Date.now() - t0;
  assert.equal(res.status, 202, `PATCH (no Content-Length): ${await describe(res.clone())}`);
  await res.body?.cancel();
  assert.equal(sent, SIZE);
  assert.equal(res.headers.get("range"), `0-${SIZE - 1}`, "Range after the PATCH");
  const digest = "sha256:" + hash.digest("hex");
  console.error(`  [large-blob] PATCH ${SIZE / MiB} MiB (chunked) in ${ms} ms (${mbps(SIZE, ms)})`);

  await finishUpload(resolveLocation(res.headers.get("location") ?? location), digest);
  uploaded.one = { seed, digest, size: SIZE };
  await pullAndCompare(digest, SIZE);
});

test(`${SIZE / MiB} MiB blob pushed in chunks with Content-Range and Content-Length`, { timeout: TIMEOUT }, async () => {
  const seed = `chunked-${run}`;
  let { location, minChunk, maxChunk } = await startUpload();
  let chunk = CHUNK;
  if (maxChunk && chunk > maxChunk) chunk = maxChunk;
  if (minChunk && chunk < minChunk) chunk = minChunk;
  const hash = createHash("sha256");
  let offset = 0;
  let patches = 0;
  const t0 = Date.now();
  while (offset < SIZE) {
    const len = Math.min(chunk, SIZE - offset);
    const end = offset + len - 1;
    const body = randomStream(seed, len, { offset, onChunk: (c) => hash.update(c) });
    const res = await berthFetch(location, {
      method: "PATCH",
      body,
      duplex: "half",
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `${offset}-${end}`,
        "Content-Length": String(len),
      },
    });
    assert.equal(res.status, 202, `PATCH ${offset}-${end}: ${await describe(res.clone())}`);
    await res.body?.cancel();
    assert.equal(res.headers.get("range"), `0-${end}`, `Range after PATCH ${patches + 1}`);
    location = resolveLocation(res.headers.get("location"));
    offset += len;
    patches++;
  }
  const ms = Date.now() - t0;
  assert.ok(patches >= 2, `sent ${patches} PATCHes`);
  const digest = "sha256:" + hash.digest("hex");
  console.error(`  [large-blob] ${patches} PATCHes of ≤${chunk / MiB} MiB in ${ms} ms (${mbps(SIZE, ms)})`);

  await finishUpload(location, digest);
  uploaded.chunked = { seed, digest, size: SIZE };
  await pullAndCompare(digest, SIZE);
});

test("Range GETs of slices of the large blob answer 206 with the right bytes", { timeout: TIMEOUT }, async () => {
  const blob = uploaded.one ?? uploaded.chunked;
  assert.ok(blob, "no large blob was uploaded by the tests above");
  const { seed, digest, size } = blob;
  const cases = [
    // [Range header, first byte, last byte]
    [`bytes=${Math.floor(size / 3) + 12345}-${Math.floor(size / 3) + 12345 + 3 * MiB + 6}`, Math.floor(size / 3) + 12345, Math.floor(size / 3) + 12345 + 3 * MiB + 6],
    [`bytes=0-0`, 0, 0],
    [`bytes=${size - 1000}-`, size - 1000, size - 1],
    [`bytes=-4097`, size - 4097, size - 1],
    [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1], // end past the size is clipped
  ];
  for (const [range, first, last] of cases) {
    const res = await berthFetch(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
    assert.equal(res.status, 206, `${range}: ${await describe(res.clone())}`);
    assert.equal(res.headers.get("content-range"), `bytes ${first}-${last}/${size}`, `${range}: Content-Range`);
    const len = last - first + 1;
    assert.equal(res.headers.get("content-length"), String(len), `${range}: Content-Length`);
    const got = await sha256Stream(res.body);
    assert.equal(got.size, len, `${range}: bytes received`);
    const want = await randomDigest(seed, len, { offset: first });
    assert.equal(got.digest, want.digest, `${range}: slice content`);
  }
});

test("an unsatisfiable Range answers 416", {
  skip: process.env.BERTH_E2E_TARGET === "distribution" && "the reference docker-registry 2.8 drops the connection instead",
}, async () => {
  const blob = uploaded.one ?? uploaded.chunked;
  assert.ok(blob, "no large blob was uploaded by the tests above");
  const bad = await berthFetch(`/v2/${repo}/blobs/${blob.digest}`, { headers: { Range: `bytes=${blob.size}-` } });
  assert.equal(bad.status, 416, `Range starting at the size: ${await describe(bad.clone())}`);
  await bad.body?.cancel();
});
