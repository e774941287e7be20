// skopeo list-tags and skopeo delete (by tag: skopeo resolves the tag to a digest and
// DELETEs the manifest; afterwards the manifest and its tags are gone).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, berthFetch,
  MANIFEST_ACCEPT, describe,
} from "./harness.mjs";

let images;
const repo = uniqueRepo("tags");

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  const push = (ref, tag) =>
    skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:${ref}`, dockerRef(repo, tag)]);
  await push("app", "1.0");
  await push("app", "latest"); // same digest as 1.0
  await push("tool", "tool-1");
  await push("tool", "tool-2"); // same digest as tool-1
  await push("app", "v2.0.0-rc.1_b");
});

test("list-tags returns every tag", async () => {
  const r = await skopeo(["list-tags", "--tls-verify=false", `docker://${process.env.BERTH_HOST}/${repo}`]);
  const out = JSON.parse(r.stdout);
  assert.equal(out.Repository, `${process.env.BERTH_HOST}/${repo}`);
  assert.deepEqual([...out.Tags].sort(), ["1.0", "latest", "tool-1", "tool-2", "v2.0.0-rc.1_b"].sort());
});

const distribution = process.env.BERTH_E2E_TARGET === "distribution";

test("tags/list is in lexical order and paginates with n/last and a Link header", {
  skip: distribution && "the reference docker-registry 2.8 neither sorts nor paginates tags",
}, async () => {
  const res = await berthFetch(`/v2/${repo}/tags/list`);
  assert.equal(res.status, 200, await describe(res.clone()));
  const all = await res.json();
  assert.equal(all.name, repo);
  assert.deepEqual(all.tags, ["1.0", "latest", "tool-1", "tool-2", "v2.0.0-rc.1_b"]);

  const p1 = await berthFetch(`/v2/${repo}/tags/list?n=2`);
  assert.equal(p1.status, 200);
  assert.deepEqual((await p1.json()).tags, ["1.0", "latest"]);
  const link = p1.headers.get("link") ?? "";
  assert.match(link, /^<[^>]*\/v2\/[^>]*tags\/list\?[^>]*>;\s*rel="next"$/, `Link header: ${link}`);
  const next = new URL(link.slice(1, link.indexOf(">")), "https://x");
  assert.equal(next.searchParams.get("last"), "latest");

  const p2 = await berthFetch(`/v2/${repo}/tags/list?n=2&last=latest`);
  assert.deepEqual((await p2.json()).tags, ["tool-1", "tool-2"]);
});

test("delete by tag deletes the manifest it resolves to; other manifests remain", async () => {
  const before = JSON.parse((await skopeo(["inspect", "--tls-verify=false", dockerRef(repo, "tool-1")])).stdout);
  assert.equal(before.Digest, images.tool.digest);

  await skopeo(["delete", "--tls-verify=false", dockerRef(repo, "tool-1")]);

  // the manifest is gone by digest, and so is the other tag that pointed to it
  for (const ref of [images.tool.digest, "tool-1", "tool-2"]) {
    const r = await skopeo(["inspect", "--tls-verify=false", dockerRef(repo, ref)], { allowFail: true });
    assert.notEqual(r.code, 0, `inspect ${ref} must fail after delete, got: ${r.stdout.slice(0, 200)}`);
    assert.match(r.stderr, /manifest unknown|not found|404/i, `inspect ${ref} error: ${r.stderr.slice(-400)}`);
  }
  const res = await berthFetch(`/v2/${repo}/manifests/${images.tool.digest}`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.errors?.[0]?.code, "MANIFEST_UNKNOWN");

  // the app manifest and its tags are untouched
  for (const tag of ["1.0", "latest", "v2.0.0-rc.1_b"]) {
    const info = JSON.parse((await skopeo(["inspect", "--tls-verify=false", dockerRef(repo, tag)])).stdout);
    assert.equal(info.Digest, images.app.digest, `tag ${tag}`);
  }
  const r = await skopeo(["list-tags", "--tls-verify=false", `docker://${process.env.BERTH_HOST}/${repo}`]);
  assert.deepEqual([...JSON.parse(r.stdout).Tags].sort(), ["1.0", "latest", "v2.0.0-rc.1_b"]);
});

test("the shared layer stays pullable after deleting an image that used it", async () => {
  // tool and app share the base layer; tool was deleted above
  const base = images.layers.base.descriptor;
  const res = await berthFetch(`/v2/${repo}/blobs/${base.digest}`);
  assert.equal(res.status, 200, await describe(res.clone()));
  const buf = Buffer.from(await res.arrayBuffer());
  assert.equal(buf.length, base.size);
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--src-tls-verify=false", dockerRef(repo, "latest"), `oci:${out}:latest`]);
});

test("deleting an unknown manifest digest answers 404", async () => {
  const d = "sha256:" + "0".repeat(64);
  const res = await berthFetch(`/v2/${repo}/manifests/${d}`, { method: "DELETE" });
  assert.equal(res.status, 404, await describe(res.clone()));
});
