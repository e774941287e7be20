// Protocol details that only show through the real HTTP stack of `wrangler dev` (workerd's
// response compression, chunked request bodies) and that real clients depend on.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  requireTarget, uniqueRepo, berthFetch, resolveLocation, withQuery, describe, sha256, MT,
} from "./harness.mjs";

const repo = uniqueRepo("http");
const distribution = process.env.BERTH_E2E_TARGET === "distribution";

before(() => requireTarget());

/** Upload bytes (one PATCH with Content-Length, PUT ?digest=); return the digest. */
async function pushBlob(bytes) {
  const post = await berthFetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(post.status, 202, await describe(post.clone()));
  const patch = await berthFetch(resolveLocation(post.headers.get("location")), {
    method: "PATCH",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(patch.status, 202, await describe(patch.clone()));
  const digest = sha256(bytes);
  const put = await berthFetch(withQuery(resolveLocation(patch.headers.get("location")), { digest }), { method: "PUT" });
  assert.equal(put.status, 201, await describe(put.clone()));
  return digest;
}

test("GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0", async () => {
  const res = await berthFetch("/v2/");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
});

test("compressible blob and manifest go out byte-exact even with Accept-Encoding: gzip", async () => {
  const text = Buffer.from(`{"hello":"${"world ".repeat(20000)}"}\n`);
  const digest = await pushBlob(text);
  const res = await berthFetch(`/v2/${repo}/blobs/${digest}`, { headers: { "Accept-Encoding": "gzip, br" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), null, "blob must not be re-encoded");
  assert.equal(res.headers.get("content-length"), String(text.length));
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);

  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configDigest = await pushBlob(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: { mediaType: MT.config, digest: configDigest, size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size: text.length }],
    annotations: { padding: "x".repeat(20000) },
  }));
  const put = await berthFetch(`/v2/${repo}/manifests/gz`, { method: "PUT", body: manifest, headers: { "Content-Type": MT.manifest } });
  assert.equal(put.status, 201, await describe(put.clone()));
  assert.equal(put.headers.get("docker-content-digest"), sha256(manifest));
  const get = await berthFetch(`/v2/${repo}/manifests/gz`, { headers: { Accept: MT.manifest, "Accept-Encoding": "gzip, br" } });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("content-encoding"), null, "manifest must not be re-encoded");
  assert.equal(get.headers.get("content-length"), String(manifest.length));
  assert.ok(Buffer.from(await get.arrayBuffer()).equals(manifest));
});

test("upload status GET answers 204 with the Range received so far", async () => {
  const post = await berthFetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(post.status, 202);
  const chunk = randomBytes(100_000);
  const patch = await berthFetch(resolveLocation(post.headers.get("location")), {
    method: "PATCH",
    body: chunk,
    headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${chunk.length - 1}` },
  });
  assert.equal(patch.status, 202, await describe(patch.clone()));
  const loc = resolveLocation(patch.headers.get("location"));
  const status = await berthFetch(loc);
  assert.equal(status.status, 204, await describe(status.clone()));
  assert.equal(status.headers.get("range"), `0-${chunk.length - 1}`);
  assert.ok(status.headers.get("location"), "status answers a Location");

  // finish with the last chunk in the PUT body, sent chunked (no Content-Length)
  const last = randomBytes(50_000);
  const digest = sha256(Buffer.concat([chunk, last]));
  const put = await berthFetch(withQuery(loc, { digest }), {
    method: "PUT",
    duplex: "half",
    body: new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(last));
        c.close();
      },
    }),
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(put.status, 201, await describe(put.clone()));
  const get = await berthFetch(`/v2/${repo}/blobs/${digest}`);
  assert.equal(get.status, 200);
  assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest);
});

test("a PATCH that does not start where the last one ended answers 416; the session survives", {
  skip: distribution && "the reference docker-registry 2.8 ignores Content-Range on PATCH",
}, async () => {
  const post = await berthFetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(post.status, 202);
  const chunk = randomBytes(100_000);
  const first = await berthFetch(resolveLocation(post.headers.get("location")), {
    method: "PATCH",
    body: chunk,
    headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${chunk.length - 1}` },
  });
  assert.equal(first.status, 202, await describe(first.clone()));
  const loc = resolveLocation(first.headers.get("location"));
  const wrong = await berthFetch(loc, {
    method: "PATCH",
    body: chunk,
    headers: { "Content-Type": "application/octet-stream", "Content-Range": `${chunk.length + 10}-${2 * chunk.length + 9}` },
  });
  assert.equal(wrong.status, 416, await describe(wrong.clone()));

  const status = await berthFetch(loc);
  assert.equal(status.status, 204, await describe(status.clone()));
  assert.equal(status.headers.get("range"), `0-${chunk.length - 1}`, "offset unchanged by the rejected PATCH");
  const next = await berthFetch(resolveLocation(status.headers.get("location")), {
    method: "PATCH",
    body: chunk,
    headers: { "Content-Type": "application/octet-stream", "Content-Range": `${chunk.length}-${2 * chunk.length - 1}` },
  });
  assert.equal(next.status, 202, await describe(next.clone()));
  const digest = sha256(Buffer.concat([chunk, chunk]));
  const put = await berthFetch(withQuery(resolveLocation(next.headers.get("location")), { digest }), { method: "PUT" });
  assert.equal(put.status, 201, await describe(put.clone()));
});

test("a final digest that does not match answers 400 DIGEST_INVALID and leaves nothing visible", async () => {
  const post = await berthFetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(post.status, 202);
  const data = randomBytes(10_000);
  const patch = await berthFetch(resolveLocation(post.headers.get("location")), { method: "PATCH", body: data });
  assert.equal(patch.status, 202);
  const wrongDigest = sha256(randomBytes(10));
  const put = await berthFetch(withQuery(resolveLocation(patch.headers.get("location")), { digest: wrongDigest }), { method: "PUT" });
  assert.equal(put.status, 400, await describe(put.clone()));
  assert.equal((await put.json()).errors?.[0]?.code, "DIGEST_INVALID");
  for (const d of [wrongDigest, sha256(data)]) {
    const head = await berthFetch(`/v2/${repo}/blobs/${d}`, { method: "HEAD" });
    assert.equal(head.status, 404, `blob ${d} must not exist`);
  }
});

test("monolithic upload: POST ?digest= with the blob as body answers 201", {
  skip: distribution && "the reference docker-registry 2.8 has no monolithic POST",
}, async () => {
  const data = randomBytes(64 * 1024);
  const digest = sha256(data);
  const res = await berthFetch(`/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    method: "POST",
    body: data,
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(res.status, 201, await describe(res.clone()));
  assert.equal(res.headers.get("docker-content-digest"), digest);
  const get = await berthFetch(`/v2/${repo}/blobs/${digest}`);
  assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest);
});
