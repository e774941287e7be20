// Request body limits, locally as on Cloudflare: a wrangler dev of its own (started here) with
// MAX_CHUNK_BYTES at 5 MB and BODY_IDLE_TIMEOUT_SECONDS at 2. A client that pushes a layer
// above the limit in one request (skopeo does, declared or streamed) gets a prompt 413 whose
// message names the limit and `berth push`, and nothing of the layer is stored. Declared
// lengths above the limit are answered before any byte is read; a streamed body crossing the
// limit is refused, and what the client still sends is read away (for at most 10 s) before the
// answer, so clients that send the whole body anyway (all of them) read the answer instead of
// failing on a closed connection; a body that stops arriving fails after the idle timeout and
// frees its upload.
// wrangler dev's proxy: a client that hangs up in the middle of a request body (as the raw
// probes below do, declaring more than they send) leaves the proxy's connection to the Worker
// broken, and the next request through it hangs. `recoverProxy` spends that request.
// Runs only with --target=wrangler (it starts its own Berth).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:tls";
import { randomBytes } from "node:crypto";
import { OciLayout, makeTempDir, skopeo, sha256 } from "./harness.mjs";
import { startWrangler } from "../../scripts/e2e.mjs";

const LIMIT = 5_000_000; // above MAX_MANIFEST_BYTES (4 MiB), so both limits can be probed
const IDLE_SECONDS = 2;
/** Time within which a refusal must arrive (the bug answered after 15 s, or never). */
const PROMPT_MS = 3000;
const skip = process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev";
let berth;

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING body limit tests: ${skip} ***\n`);
  const vars = { MAX_CHUNK_BYTES: String(LIMIT), BODY_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS) };
  berth = await startWrangler({
    workDir: makeTempDir("berth-limits-"),
    extraArgs: Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  });
});

after(async () => {
  await berth?.stop();
});

const fetchBerth = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });

/**
 * Sends a request head (with whatever Content-Length it claims) and `body`, then keeps the
 * connection open without sending more. Resolves with the status line, the response body and
 * the time to the first response byte, or { status: 0 } after `waitMs`.
 */
function rawRequest(method, path, headers, body = Buffer.alloc(0), waitMs = 10_000) {
  const { hostname, port, host } = new URL(berth.url);
  return new Promise((resolve) => {
    const started = Date.now();
    let firstByteMs;
    let received = "";
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const head = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
      socket.write(head);
      if (body.length) socket.write(body);
    });
    const finish = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on("data", (data) => {
      firstByteMs ??= Date.now() - started;
      received += data.toString("latin1");
      const headEnd = received.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(received.slice(0, headEnd))?.[1] ?? 0);
      if (received.length - headEnd - 4 < length) return;
      finish({ status: Number(received.split(" ")[1]), body: received.slice(headEnd + 4, headEnd + 4 + length), ms: firstByteMs });
    });
    socket.on("error", () => finish({ status: 0, body: "", ms: Date.now() - started }));
    const timer = setTimeout(() => finish({ status: 0, body: "", ms: Date.now() - started }), waitMs);
  });
}

/** Spends the one request wrangler dev's proxy hangs on after a client hung up mid-body (see the top). */
async function recoverProxy() {
  await fetchBerth("/v2/", { signal: AbortSignal.timeout(2000) }).then((r) => r.body?.cancel(), () => undefined);
}

async function startUpload(repo) {
  const response = await fetchBerth(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(response.status, 202);
  assert.equal(response.headers.get("oci-chunk-max-length"), String(LIMIT), "the limit is advertised");
  return response.headers.get("location");
}

async function uploadOffset(location) {
  const response = await fetchBerth(location);
  assert.equal(response.status, 204, `upload status of ${location}`);
  return response.headers.get("range");
}

function assertNamesLimit(text) {
  assert.match(text, new RegExp(`${LIMIT}`), "the message names the limit");
  assert.match(text, /MAX_CHUNK_BYTES/);
  assert.match(text, /npx berth push/, "the message says what to do");
}

/** An image whose one layer is `layerBytes` random (incompressible) bytes, stored uncompressed. */
async function imageWithLayer(layerBytes) {
  const dir = makeTempDir("berth-limits-img-");
  const layout = await new OciLayout(dir).init();
  const layer = await layout.addLayer([{ path: "big.bin", content: randomBytes(layerBytes) }], { compress: false });
  const image = await layout.addImage({ layers: [layer], label: "limits" });
  await layout.tag("image", image.descriptor);
  return { dir, image, layer: layer.descriptor };
}

/** Upload locations skopeo --debug logged. */
function uploadLocations(debugLog) {
  return [...new Set([...debugLog.matchAll(/(?:PATCH|PUT) https?:\/\/[^/\s]+(\/v2\/[^\s?"]+\/blobs\/uploads\/[0-9a-f-]{36})/g)].map((m) => m[1]))];
}

test("a declared Content-Length above the limit is refused before the body is read", { skip }, async () => {
  const probes = [
    ["manifest PUT declaring 10 GB", "PUT", "/v2/limits/declared/manifests/v1", 10_000_000_000, { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }],
    ["monolithic POST ?digest= declaring 10 TB", "POST", `/v2/limits/declared/blobs/uploads/?digest=${sha256(Buffer.from("x"))}`, 10_000_000_000_000, {}],
    ["PATCH declaring 200 MB", "PATCH", await startUpload("limits/declared"), 200_000_000, {}],
    ["manifest PUT declaring one byte over MAX_MANIFEST_BYTES", "PUT", "/v2/limits/declared/manifests/v2", 4 * 1024 * 1024 + 1, { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }],
  ];
  for (const [what, method, path, length, headers] of probes) {
    const response = await rawRequest(method, path, { ...headers, "Content-Length": String(length) }, Buffer.from("{}"));
    await recoverProxy();
    assert.equal(response.status, 413, `${what}: ${response.status} ${response.body}`);
    assert.ok(response.ms < PROMPT_MS, `${what}: answered after ${response.ms} ms`);
    const error = JSON.parse(response.body).errors[0];
    assert.equal(error.code, "SIZE_INVALID", what);
    if (what.includes("MAX_MANIFEST_BYTES")) assert.match(error.message, /MAX_MANIFEST_BYTES/);
    else assertNamesLimit(error.message);
  }
});

test("a streamed body crossing the limit gets a 413 and leaves the upload where it was", { skip }, async () => {
  const repo = "limits/streamed";
  const location = await startUpload(repo);
  const first = await fetchBerth(location, { method: "PATCH", body: randomBytes(1000) });
  assert.equal(first.status, 202);
  // Chunked transfer encoding: no declared length, three times the limit.
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent >= 3 * LIMIT) return controller.close();
      const chunk = randomBytes(256 * 1024);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const started = Date.now();
  const response = await fetchBerth(location, { method: "PATCH", body, duplex: "half" });
  assert.equal(response.status, 413);
  assert.ok(Date.now() - started < 10_000 + PROMPT_MS, `answered after ${Date.now() - started} ms`);
  assertNamesLimit(JSON.parse(await response.text()).errors[0].message);
  assert.equal(await uploadOffset(location), "0-999", "the offset is unchanged");

  // The upload is still usable: the rest arrives in chunks within the limit.
  const rest = randomBytes(LIMIT - 5);
  const second = await fetchBerth(location, { method: "PATCH", body: rest, headers: { "Content-Range": `1000-${1000 + rest.length - 1}` } });
  assert.equal(second.status, 202, await second.text());
  assert.equal(await uploadOffset(location), `0-${1000 + rest.length - 1}`);
});

test("a body that stops arriving fails after the idle timeout and frees the upload", { skip }, async () => {
  const location = await startUpload("limits/idle");
  // Chunked transfer encoding (as skopeo and podman send): one chunk of 10 bytes, then nothing.
  const response = await rawRequest("PATCH", location, { "Transfer-Encoding": "chunked" }, Buffer.from("a\r\n0123456789\r\n"), 30_000);
  assert.equal(response.status, 408, response.body);
  assert.ok(response.ms >= IDLE_SECONDS * 1000 - 100 && response.ms < IDLE_SECONDS * 1000 + PROMPT_MS, `answered after ${response.ms} ms`);
  assert.match(JSON.parse(response.body).errors[0].message, /no bytes of the request body arrived for 2 s/);
  assert.equal(await uploadOffset(location), "0-0", "nothing of the stalled request was kept");
  const next = await fetchBerth(location, { method: "PATCH", body: "hello" });
  assert.equal(next.status, 202, "the upload is free for the next request");
});

for (const [how, extra] of [
  ["declared (Content-Length)", []],
  ["streamed (compressed on the fly, no Content-Length)", ["--dest-compress"]],
]) {
  test(`skopeo pushing a layer above MAX_CHUNK_BYTES, ${how}: a clear 413 and nothing stored`, { skip, timeout: 180_000 }, async () => {
    const { dir, layer } = await imageWithLayer(LIMIT + 2_000_000);
    const repo = `limits/skopeo-${extra.length ? "streamed" : "declared"}`;
    const started = Date.now();
    const result = await skopeo(["--debug", "copy", "--retry-times", "0", ...extra, "--dest-tls-verify=false", `oci:${dir}:image`, `docker://${berth.host}/${repo}:v1`], { allowFail: true });
    const elapsed = Date.now() - started;
    assert.notEqual(result.code, 0, "the push fails");
    const errorLines = result.stderr.split("\n").filter((line) => !/level=debug/.test(line)).join("\n");
    assert.match(errorLines, /size invalid: request body exceeds/, errorLines);
    assertNamesLimit(errorLines);
    assert.ok(elapsed < 60_000, `skopeo gave up after ${elapsed} ms`);

    // Nothing half-stored: no blob, no manifest, and every upload skopeo opened holds no bytes.
    const blob = await fetchBerth(`/v2/${repo}/blobs/${layer.digest}`, { method: "HEAD" });
    assert.equal(blob.status, 404, "the big layer is not visible");
    const manifest = await fetchBerth(`/v2/${repo}/manifests/v1`, { method: "HEAD" });
    assert.equal(manifest.status, 404);
    const locations = uploadLocations(result.stderr);
    assert.ok(locations.length > 0, "skopeo --debug shows its upload location");
    for (const location of locations) {
      const status = await fetchBerth(location);
      if (status.status === 404) continue; // cancelled by the client
      assert.equal(status.status, 204);
      assert.equal(status.headers.get("range"), "0-0", `${location} kept no bytes`);
    }
  });
}
