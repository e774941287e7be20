// HTTP semantics a plain client relies on, checked with curl against an image pushed by skopeo:
// a Range header that does not parse is ignored (200, the whole blob; RFC 9110), a valid but
// unsatisfiable one is 416; If-None-Match (weak, lists, *) answers 304 for manifests and blobs,
// GET and HEAD; X-Content-Type-Options: nosniff everywhere and a Content-Security-Policy on the UI.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BERTH_URL, buildTestImages, dockerRef, makeTempDir, requireTarget, run, sha256, skopeo, uniqueRepo } from "./harness.mjs";

const skip = process.env.BERTH_E2E_TARGET === "distribution" && "Berth's own headers and Range leniency (docker-registry 2.8 answers 416 to a Range it cannot parse)";
const repo = uniqueRepo("headers/app");
let image;

before(async () => {
  if (skip) return;
  requireTarget();
  const dir = join(makeTempDir("berth-headers-"), "layout");
  const images = await buildTestImages(dir);
  image = images.app;
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, dockerRef(repo, "v1")]);
});

/** curl -k with extra arguments: {status, headers (lower-cased names), body (Buffer)}. */
async function curl(path, args = []) {
  const dir = makeTempDir("berth-curl-");
  const headerFile = join(dir, "headers");
  const bodyFile = join(dir, "body");
  const { stdout } = await run("curl", ["-k", "-s", "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}", ...args, `${BERTH_URL}${path}`]);
  const headers = {};
  for (const line of (await readFile(headerFile, "utf8")).split("\r\n").slice(1)) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(stdout), headers, body: await readFile(bodyFile).catch(() => Buffer.alloc(0)) };
}

test("a Range header that does not parse is ignored: 200 with the whole blob; an unsatisfiable one is 416", { skip }, async () => {
  const layer = image.manifest.layers[0];
  const path = `/v2/${repo}/blobs/${layer.digest}`;
  for (const range of ["bytes=abc", "bytes=-", "items=0-1", "bytes=0-1,4-5"]) {
    const response = await curl(path, ["-H", `Range: ${range}`]);
    assert.equal(response.status, 200, range);
    assert.equal(response.headers["content-length"], String(layer.size), range);
    assert.equal(response.headers["content-range"], undefined, range);
    assert.equal(sha256(response.body), layer.digest, range);
  }
  const partial = await curl(path, ["-H", "Range: bytes=0-9"]);
  assert.equal(partial.status, 206);
  assert.equal(partial.headers["content-range"], `bytes 0-9/${layer.size}`);
  for (const range of [`bytes=${layer.size}-`, "bytes=5-3"]) {
    const response = await curl(path, ["-H", `Range: ${range}`]);
    assert.equal(response.status, 416, range);
    assert.equal(response.headers["content-range"], `bytes */${layer.size}`, range);
  }
});

test("If-None-Match answers 304 for manifests and blobs, GET and HEAD, with weak tags, lists and *", { skip }, async () => {
  const layer = image.manifest.layers[0];
  for (const [path, digest] of [
    [`/v2/${repo}/manifests/v1`, image.descriptor.digest],
    [`/v2/${repo}/manifests/${image.descriptor.digest}`, image.descriptor.digest],
    [`/v2/${repo}/blobs/${layer.digest}`, layer.digest],
  ]) {
    for (const header of [`"${digest}"`, `W/"${digest}"`, `"nope", W/"${digest}"`, "*"]) {
      for (const method of [[], ["-I"]]) {
        const response = await curl(path, [...method, "-H", `If-None-Match: ${header}`, "-H", `Accept: ${image.descriptor.mediaType}`]);
        assert.equal(response.status, 304, `${method.join("")} ${path} If-None-Match: ${header}`);
        assert.equal(response.headers.etag, `"${digest}"`);
      }
    }
    const other = await curl(path, ["-H", 'If-None-Match: "nope"', "-H", `Accept: ${image.descriptor.mediaType}`]);
    assert.equal(other.status, 200);
    assert.equal(sha256(other.body), digest);
  }
});

test("nosniff on every answer; the UI carries a Content-Security-Policy without inline script and forbids framing", { skip }, async () => {
  for (const path of ["/v2/", `/v2/${repo}/manifests/v1`, `/v2/${repo}/blobs/${image.manifest.layers[0].digest}`, `/v2/${repo}/manifests/missing`, "/api/v1/repositories", "/", "/js/app.js", "/app.css"]) {
    const response = await curl(path);
    assert.equal(response.headers["x-content-type-options"], "nosniff", path);
  }
  const ui = await curl("/");
  assert.equal(ui.status, 200);
  const csp = ui.headers["content-security-policy"] ?? "";
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(ui.body.toString("utf8"), /<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i, "index.html has no inline script, style or handler");
});
