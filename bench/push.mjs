#!/usr/bin/env node
// Push throughput (not a test): Berth's two push paths against a bare Worker that only streams a
// request body into R2 (bench/push-baseline), each under its own wrangler dev, in one run.
//
//   node bench/push.mjs [--size-mib=256] [--runs=2]
//
//   bare      PUT of the whole blob with Content-Length into R2 (the platform's floor)
//   one PUT   POST, then PUT ?digest= carrying the whole blob with Content-Length
//   one PATCH POST, ONE PATCH of unknown length (Transfer-Encoding: chunked), PUT ?digest=
//             (what docker, podman and skopeo send)
// Prints MB/s (best of --runs) and the ratio to the bare put. Asserts nothing.

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWrangler } from "../scripts/e2e.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const MiB = 1024 * 1024;
const SIZE = opt("size-mib", 256) * MiB;
const RUNS = opt("runs", 2);

// One random MiB repeated, with the chunk index stamped in front so no two MiBs are equal.
const base = randomBytes(MiB);
function* chunks() {
  for (let i = 0; i < SIZE / MiB; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}
const digest = (() => {
  const hash = createHash("sha256");
  for (const chunk of chunks()) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
})();

/**
 * wrangler dev's proxy sometimes drops the request that follows a long upload ("Your worker
 * restarted mid-request", 503) without the Worker seeing it; a body-less request is sent again once.
 */
async function send(url, method, options = {}) {
  const response = await sendOnce(url, method, options);
  if (response.status === 503 && options.body === false && response.text.includes("restarted mid-request")) return sendOnce(url, method, options);
  return response;
}

function sendOnce(url, method, { length, body = true } = {}) {
  return new Promise((resolve, reject) => {
    const headers = length === undefined ? { "Transfer-Encoding": "chunked" } : { "Content-Length": String(length) };
    const req = request(url, { method, headers, rejectUnauthorized: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("error", reject);
    if (!body) return req.end();
    const iterator = chunks();
    const pump = () => {
      for (;;) {
        const { done, value } = iterator.next();
        if (done) return req.end();
        if (!req.write(value)) return req.once("drain", pump);
      }
    };
    pump();
  });
}

async function timed(what, fn) {
  let best = Infinity;
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    await fn(run);
    best = Math.min(best, performance.now() - started);
  }
  const mbps = SIZE / 1e6 / (best / 1000);
  console.log(`${what.padEnd(10)} ${(best / 1000).toFixed(2)} s  ${mbps.toFixed(1)} MB/s`);
  return mbps;
}

async function expectStatus(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: ${response.status} ${response.text}`);
  return response;
}

const work = mkdtempSync(join(tmpdir(), "berth-push-bench-"));
const bareDir = join(work, "bare");
const berthDir = join(work, "berth");
for (const dir of [bareDir, berthDir]) (await import("node:fs")).mkdirSync(dir);
const bare = await startWrangler({ workDir: bareDir, extraArgs: ["--config", "bench/push-baseline/wrangler.toml"] });
const berth = await startWrangler({ workDir: berthDir });
try {
  console.log(`${SIZE / MiB} MiB, best of ${RUNS}`);
  const floor = await timed("bare", async (run) => expectStatus(await send(`${bare.url}/blob-${run}`, "PUT", { length: SIZE }), 201, "bare PUT"));
  const upload = async (repo) => {
    const started = await expectStatus(await send(`${berth.url}/v2/${repo}/blobs/uploads/`, "POST", { length: 0, body: false }), 202, "POST");
    return new URL(started.headers.location, berth.url);
  };
  const withDigest = (location) => `${location}${location.search ? "&" : "?"}digest=${digest}`;
  const onePut = await timed("one PUT", async (run) => {
    const location = await upload(`bench/put-${run}-${Date.now()}`);
    await expectStatus(await send(withDigest(location), "PUT", { length: SIZE }), 201, "PUT");
  });
  const onePatch = await timed("one PATCH", async (run) => {
    const location = await upload(`bench/patch-${run}-${Date.now()}`);
    const patched = await expectStatus(await send(location, "PATCH"), 202, "PATCH");
    await expectStatus(await send(withDigest(new URL(patched.headers.location, berth.url)), "PUT", { length: 0, body: false }), 201, "PUT");
  });
  console.log(`one PUT / bare ${(onePut / floor).toFixed(2)}, one PATCH / bare ${(onePatch / floor).toFixed(2)}`);
} finally {
  await bare.stop();
  await berth.stop();
  rmSync(work, { recursive: true, force: true });
}
