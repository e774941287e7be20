#!/usr/bin/env node
// `npm run bench`: Berth against the floor of its platform and against the CNCF registry, in one
// run on one machine (a benchmark, not a test: it asserts nothing about time).
//
//   node bench/run.mjs [--quick] [--size-mib=1024] [--out=DIR]
//   node bench/run.mjs --from=bench/results.json   (the reports again from recorded figures)
//
// Starts, all on 127.0.0.1 over plain HTTP:
//   - Berth under `wrangler dev` (local R2), with the registry below as its upstream `bench.test`,
//     requiring authentication as deployed (clients send a token from /token, as docker does);
//     for the manifest requests also a second Berth in open mode, as `npm start` runs it;
//   - the bare Worker of bench/bare/ (same wrangler, workerd and local R2): a PUT streams a body
//     into R2, a GET streams an object out, a manifest GET is one Durable Object call + one R2 read;
//   - Debian's docker-registry (distribution 2.8), behind a front that counts requests.
// Measures: push as one PUT of known length, push as one PATCH of unknown length (chunked) + PUT,
// pull (of the PUT blob, and of the PATCH blob: in Berth an object assembled from multipart parts); manifest GET/HEAD by tag and by digest at 1 and 32 connections (req/s, p50/p99); the
// resolve API; a cold and a warm pull-through of a multi-layer multi-arch image against pulling
// it directly from the upstream (time and upstream requests); the largest workerd process's RSS
// during the push and the pull. Writes results.json, RESULTS.md and results.svg to bench/
// (--quick: to a temporary directory, printed, so the committed results stay).
// --quick: small sizes and few requests (CI runs it so the harness never rots).
// --only=transfers,requests,pull-through: just those parts (written to a temporary directory
// unless --out is given; --merge=bench/results.json keeps the other parts' recorded figures).
// --rounds=N: pull-through rounds (3); --keep: keep the servers' logs and state afterwards.

import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { startWrangler, freePort } from "../scripts/e2e.mjs";
import { startRegistry } from "../test/upstream/peers/registry.mjs";
import { randomDigest } from "../test/e2e/harness.mjs";
import { MiB, MB, RssSampler, workerdPids, rate, describeError, expectStatus, sendBody, drain, countingFront, pullImage, bearerTokens } from "./measure.mjs";
import { summarize, markdown, svg } from "./report.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const QUICK = args.includes("--quick");
const BLOB = Number(opt("size-mib", QUICK ? 16 : 1024)) * MiB;
const LAYER = (QUICK ? 1 : 32) * MiB;
const LAYERS = 4;
/** The blob of the single-layer cold cache fill (one GET through the cache). */
const FILL_BLOB = (QUICK ? 4 : 64) * MiB;
const PLATFORMS = 2;
const ROUNDS = Number(opt("rounds", QUICK ? 1 : 3));
/** --keep: leave the servers' directories (logs, local R2 and Durable Object state) for a post-mortem. */
const KEEP = args.includes("--keep");
const PULL_RUNS = QUICK ? 1 : 3;
const COUNT = { 1: QUICK ? 20 : 400, 32: QUICK ? 64 : 4000 };
const UPSTREAM = "bench.test";
const PARTS = ["transfers", "requests", "pull-through"];
const ONLY = opt("only", PARTS.join(",")).split(",");
for (const part of ONLY) if (!PARTS.includes(part)) throw new Error(`--only: unknown part "${part}" (${PARTS.join(", ")})`);
const PARTIAL = ONLY.length < PARTS.length;
const OUT = opt("out", QUICK || PARTIAL ? null : join(ROOT, "bench"));
const MERGE = opt("merge", null);

const log = (...m) => console.error("[bench]", ...m);
const failures = [];

/** Runs one measurement; a failure is recorded and reported, and the run goes on. */
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (error) {
    const message = `${what}: ${describeError(error)}`;
    failures.push(message);
    log(`FAILED ${message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// the three servers

const noCredentials = async () => ({});

/**
 * How each server takes and gives a blob, and where its manifests are. `auth(repo)`: the
 * headers a request about `repo` carries (a Berth that requires authentication wants a token).
 */
function ociServer(name, base, pids, auth = noCredentials) {
  return {
    name,
    base,
    pids,
    auth,
    async pushPut(repo, seed, size, digest) {
      const headers = await auth(repo);
      const { response } = await expectStatus(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers }, 202);
      const location = new URL(response.headers.get("location"), base);
      location.searchParams.set("digest", digest);
      const put = await sendBody("PUT", location, seed, size, { headers });
      if (put.status !== 201) throw new Error(`PUT → ${put.status} ${put.text.slice(0, 200)}`);
    },
    async pushPatch(repo, seed, size, digest) {
      const headers = await auth(repo);
      const { response } = await expectStatus(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers }, 202);
      const patch = await sendBody("PATCH", new URL(response.headers.get("location"), base), seed, size, { chunked: true, headers });
      if (patch.status !== 202) throw new Error(`PATCH → ${patch.status} ${patch.text.slice(0, 200)}`);
      const location = new URL(patch.headers.location, base);
      location.searchParams.set("digest", digest);
      const closing = await fetch(location, { method: "PUT", headers });
      await closing.arrayBuffer();
      // wrangler dev's proxy sometimes answers the request after a long chunked one with 503
      // "Your worker restarted mid-request" without passing it on (test/e2e/large-blob retries too)
      if (closing.status === 503) {
        log(`${name}: the closing PUT got 503 from wrangler dev's proxy; sending it again`);
        await expectStatus(location, { method: "PUT", headers }, 201);
      } else if (closing.status !== 201) throw new Error(`PUT ?digest → ${closing.status}`);
    },
    blobUrl: (repo, digest) => `${base}/v2/${repo}/blobs/${digest}`,
    manifestUrl: (repo, reference) => `${base}/v2/${repo}/manifests/${reference}`,
    async putManifest(repo, reference, bytes) {
      await expectStatus(`${base}/v2/${repo}/manifests/${reference}`, { method: "PUT", headers: { ...(await auth(repo)), "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: bytes }, 201);
    },
  };
}

function bareServer(base, pids) {
  return {
    name: "bare",
    base,
    pids,
    auth: noCredentials,
    async pushPut(_repo, seed, size, digest) {
      const put = await sendBody("PUT", `${base}/blobs/${digest}`, seed, size);
      if (put.status !== 201) throw new Error(`PUT → ${put.status} ${put.text.slice(0, 200)}`);
    },
    pushPatch: null,
    blobUrl: (_repo, digest) => `${base}/blobs/${digest}`,
    manifestUrl: (_repo, reference) => `${base}/manifests/${encodeURIComponent(reference)}`,
    async putManifest(_repo, reference, bytes) {
      await expectStatus(`${base}/manifests/${encodeURIComponent(reference)}`, { method: "PUT", body: bytes }, 201);
    },
  };
}

// ---------------------------------------------------------------------------
// measurements

async function transfers(server, results) {
  const sampler = new RssSampler(server.pids);
  const repo = `bench/blob-${randomBytes(3).toString("hex")}`;
  /** The best of `runs` runs of fn (a pull takes well under a second: one run is mostly noise). */
  const measure = async (phase, fn, runs = 1) => {
    const idle = sampler.reset();
    let seconds = Infinity;
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now();
      const ok = await attempt(`${server.name} ${phase}`, fn);
      if (ok === undefined) return;
      seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    }
    const row = { server: server.name, phase, bytes: BLOB, seconds, mbps: MB(BLOB) / seconds, idleRssMiB: idle, peakRssMiB: sampler.peak() };
    results.transfers.push(row);
    log(`${server.name} ${phase}: ${row.mbps.toFixed(1)} MB/s, RSS ${idle.toFixed(0)} → ${row.peakRssMiB.toFixed(0)} MiB`);
  };
  const seed = `bench-put-${repo}`;
  const { digest } = await randomDigest(seed, BLOB);
  await measure("push-put", async () => (await server.pushPut(repo, seed, BLOB, digest), true));
  let patched;
  if (server.pushPatch) {
    const patchSeed = `bench-patch-${repo}`;
    patched = await randomDigest(patchSeed, BLOB);
    await measure("push-patch", async () => (await server.pushPatch(repo, patchSeed, BLOB, patched.digest), true));
  }
  const pull = (blobDigest) => async () => {
    const bytes = await drain(server.blobUrl(repo, blobDigest), await server.auth(repo));
    if (bytes !== BLOB) throw new Error(`pulled ${bytes} bytes, expected ${BLOB}`);
    return true;
  };
  await measure("pull", pull(digest), PULL_RUNS);
  // what clients pull: a blob pushed the way they push it (in Berth, assembled from multipart parts)
  if (patched) await measure("pull-patched", pull(patched.digest), PULL_RUNS);
  sampler.stop();
}

/** A small image (config + one layer) pushed as the target of the manifest requests. */
async function manifestTargets(server) {
  const repo = `bench/app-${randomBytes(3).toString("hex")}`;
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const layerSeed = `bench-layer-${repo}`;
  const layerSize = 64 * 1024;
  const layer = await randomDigest(layerSeed, layerSize);
  const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layerSize }],
    }),
  );
  const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
  if (server.name !== "bare") {
    const headers = await server.auth(repo);
    const { response } = await expectStatus(`${server.base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers }, 202);
    const location = new URL(response.headers.get("location"), server.base);
    location.searchParams.set("digest", configDigest);
    await expectStatus(location, { method: "PUT", headers, body: config }, 201);
    await server.pushPut(repo, layerSeed, layerSize, layer.digest);
  }
  await server.putManifest(repo, "v1", manifest);
  if (server.name === "bare") await server.putManifest(repo, digest, manifest);
  return { repo, digest };
}

/**
 * Manifest GET/HEAD rates, each kind of request measured on every server in turn (so that load
 * from elsewhere on the machine hits all of them alike), then Berth's resolve API.
 */
async function requestRates(servers, results) {
  const targets = [];
  for (const server of servers) {
    const target = await attempt(`${server.name} manifest setup`, () => manifestTargets(server));
    if (!target) continue;
    const headers = { ...(await server.auth(target.repo)), Accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json" };
    targets.push({ server, target, headers });
  }
  for (const method of ["GET", "HEAD"]) {
    for (const by of ["tag", "digest"]) {
      for (const concurrency of [1, 32]) {
        const name = `manifest ${method} by ${by}`;
        for (const { server, target, headers } of targets) {
          const url = server.manifestUrl(target.repo, by === "tag" ? "v1" : target.digest);
          const measured = await attempt(`${server.name} ${name} ×${concurrency}`, () =>
            rate(() => expectStatus(url, { method, headers }, 200), { count: COUNT[concurrency], concurrency }),
          );
          if (measured) {
            results.requests.push({ server: server.name, name, concurrency, ...measured });
            log(`${server.name} ${name} ×${concurrency}: ${measured.rps.toFixed(0)} req/s, p50 ${measured.p50.toFixed(1)} ms, p99 ${measured.p99.toFixed(1)} ms`);
          }
        }
      }
    }
  }
  const berth = targets.find((t) => t.server.name === "berth");
  if (berth) {
    const url = `${berth.server.base}/api/v1/resolve?ref=${encodeURIComponent(`${berth.target.repo}:v1`)}`;
    const credentials = { headers: await berth.server.auth(berth.target.repo) };
    for (const concurrency of [1, 32]) {
      const measured = await attempt(`resolve ×${concurrency}`, () => rate(() => expectStatus(url, credentials, 200), { count: COUNT[concurrency], concurrency }));
      if (measured) results.requests.push({ server: "berth", name: "resolve API", concurrency, ...measured });
    }
  }
}

/** A multi-arch image of PLATFORMS × LAYERS fresh layers, pushed straight into the registry. */
async function seedUpstreamImage(registryUrl, repo) {
  const registry = ociServer("registry", registryUrl, () => []);
  const manifests = [];
  for (let p = 0; p < PLATFORMS; p++) {
    const layers = [];
    for (let l = 0; l < LAYERS; l++) {
      const seed = `bench-mt-${repo}-${p}-${l}`;
      const { digest } = await randomDigest(seed, LAYER);
      await registry.pushPut(repo, seed, LAYER, digest);
      layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: LAYER });
    }
    const arch = ["amd64", "arm64"][p] ?? `arch${p}`;
    // unique per image, so that no blob of it is already stored in Berth when the cold pull starts
    const config = Buffer.from(JSON.stringify({ architecture: arch, os: "linux", config: { Labels: { image: repo } }, rootfs: { type: "layers", diff_ids: [] } }));
    const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
    const { response } = await expectStatus(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: "POST" }, 202);
    const location = new URL(response.headers.get("location"), registryUrl);
    location.searchParams.set("digest", configDigest);
    await expectStatus(location, { method: "PUT", body: config }, 201);
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers }),
    );
    const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
    await registry.putManifest(repo, digest, manifest);
    manifests.push({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: manifest.length, platform: { architecture: arch, os: "linux" } });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests });
  await expectStatus(`${registryUrl}/v2/${repo}/manifests/v1`, { method: "PUT", headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" }, body: index }, 201);
}

async function pullThrough(berth, registryUrl, front, results) {
  for (let round = 1; round <= ROUNDS; round++) {
    const repo = `bench/multi-${randomBytes(3).toString("hex")}`;
    const ok = await attempt(`pull-through round ${round}`, async () => {
      await seedUpstreamImage(registryUrl, repo);
      const timed = async (base, name, headers = {}) => {
        const before = front.snapshot();
        const t0 = performance.now();
        const bytes = await pullImage(base, name, "v1", { headers });
        return { bytes, seconds: (performance.now() - t0) / 1000, upstream: front.since(before).total };
      };
      const direct = await timed(front.url, repo);
      const cached = `${UPSTREAM}/${repo}`;
      const cold = await timed(berth.base, cached, await berth.auth(cached));
      const warm = await timed(berth.base, cached, await berth.auth(cached));
      // One large layer nobody has pulled: a cache fill on its own, against the bare Worker's put.
      const seed = `bench-fill-${repo}`;
      const { digest } = await randomDigest(seed, FILL_BLOB);
      await ociServer("registry", registryUrl, () => []).pushPut(repo, seed, FILL_BLOB, digest);
      const timedGet = async (url, headers = {}) => {
        const t0 = performance.now();
        const bytes = await drain(url, headers);
        return { bytes, seconds: (performance.now() - t0) / 1000 };
      };
      const fillDirect = await timedGet(`${front.url}/v2/${repo}/blobs/${digest}`);
      const fill = await timedGet(`${berth.base}/v2/${cached}/blobs/${digest}`, await berth.auth(cached));
      results.pullThrough.push({ round, bytes: direct.bytes, direct, cold, warm, fillDirect, fill });
      log(`pull-through ${round}: direct ${direct.seconds.toFixed(2)} s, cold ${cold.seconds.toFixed(2)} s (${cold.upstream} upstream requests), warm ${warm.seconds.toFixed(2)} s (${warm.upstream}); one ${FILL_BLOB / MiB} MiB layer: direct ${fillDirect.seconds.toFixed(2)} s, cold ${fill.seconds.toFixed(2)} s`);
      return true;
    });
    if (!ok) break;
  }
}

// ---------------------------------------------------------------------------

function version(cmd, a) {
  try {
    return execFileSync(cmd, a, { encoding: "utf8", cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n")[0];
  } catch {
    return "?";
  }
}

/** Writes results.json, RESULTS.md and results.svg for `results` to `out`, and prints the report. */
function writeReports(results, out) {
  results.summary = summarize(results);
  const report = markdown(results);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(out, "RESULTS.md"), report);
  writeFileSync(join(out, "results.svg"), svg(results));
  console.log(report);
  log(`wrote results.json, RESULTS.md and results.svg to ${out}`);
}

/** Takes the parts this run did not measure from an earlier run's results, saying so in meta. */
function mergeRecorded(results, recorded) {
  const kept = PARTS.filter((part) => !ONLY.includes(part));
  if (kept.includes("transfers")) results.transfers = recorded.transfers;
  if (kept.includes("requests")) results.requests = recorded.requests;
  if (kept.includes("pull-through")) results.pullThrough = recorded.pullThrough;
  results.meta.merged = { parts: kept, from: { date: recorded.meta.date, commit: recorded.meta.commit } };
}

async function main() {
  const from = opt("from", null);
  if (from) {
    // --from=results.json: the reports again from recorded figures (after a change to report.mjs)
    writeReports(JSON.parse(readFileSync(from, "utf8")), OUT ?? dirname(resolve(from)));
    return 0;
  }
  const workDir = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const stops = [];
  const results = {
    meta: {
      date: new Date().toISOString(),
      commit: version("git", ["rev-parse", "--short", "HEAD"]),
      machine: `${cpus()[0]?.model?.trim() ?? "?"} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
      node: process.version,
      wrangler: version(join(ROOT, "node_modules", ".bin", "wrangler"), ["--version"]),
      distribution: version("docker-registry", ["--version"]).replace(/^.*?\s(v?\d[\w.+-]*).*$/, "$1"),
      quick: QUICK,
      blobMiB: BLOB / MiB,
      layerMiB: LAYER / MiB,
      fillMiB: FILL_BLOB / MiB,
      layers: LAYERS,
      platforms: PLATFORMS,
      rounds: ROUNDS,
      requestsC1: COUNT[1],
      requestsC32: COUNT[32],
      pullRuns: PULL_RUNS,
      // other work on the machine moves every figure: the 1-minute load average at the start and the end
      loadAverage: { start: loadavg()[0] },
      berthAuth: "requires authentication, as deployed: every request carries a token from /token (pull and push on its repository), as docker's do; the \"open mode\" rows are a second Berth with AUTH_MODE=open, as `npm start` runs it",
    },
    transfers: [],
    requests: [],
    pullThrough: [],
    failures,
  };
  try {
    log(`${QUICK ? "quick run: " : ""}blob ${BLOB / MiB} MiB; starting docker-registry, Berth and the bare Worker…`);
    const storage = join(workDir, "registry");
    mkdirSync(storage);
    const registry = await startRegistry({ name: "bench", dir: workDir, storage });
    stops.push(registry.stop);
    const front = await countingFront(registry.url);
    stops.push(front.close);
    const upstreams = JSON.stringify([{ name: UPSTREAM, url: front.url, tagTtlSeconds: 3600, allowPrivateAddresses: true }]);
    const [berthDir, bareDir] = ["berth", "bare"].map((name) => {
      const dir = join(workDir, name);
      mkdirSync(dir);
      return dir;
    });
    // Berth as deployed: authentication required, clients holding a token (throwaway secrets).
    const adminToken = randomBytes(24).toString("hex");
    const berthVars = ["--var", `UPSTREAMS:${upstreams}`, "--var", `DEFAULT_UPSTREAM:${UPSTREAM}`];
    const authVars = ["--var", `TOKEN_SIGNING_KEY:${randomBytes(32).toString("hex")}`, "--var", `ADMIN_TOKEN:${adminToken}`, "--var", "TOKEN_TTL_SECONDS:3600"];
    const [berth, bare] = await Promise.all([
      startWrangler({ workDir: berthDir, protocol: "http", authMode: "required", extraArgs: ["--inspector-port", String(await freePort()), ...berthVars, ...authVars] }),
      startWrangler({ workDir: bareDir, protocol: "http", extraArgs: ["--config", join(ROOT, "bench", "bare", "wrangler.toml"), "--inspector-port", String(await freePort())] }),
    ]);
    stops.push(berth.stop, bare.stop);
    const servers = [
      ociServer("distribution", registry.url, () => [registry.pid]),
      bareServer(bare.url, () => workerdPids(bare.pid)),
      ociServer("berth", berth.url, () => workerdPids(berth.pid), bearerTokens(berth.url, adminToken)),
    ];
    if (ONLY.includes("transfers")) for (const server of servers) await transfers(server, results);
    if (ONLY.includes("requests")) {
      // Berth also as `npm start` runs it locally: no authentication (and its warning in the log)
      const openDir = join(workDir, "berth-open");
      mkdirSync(openDir);
      const open = await startWrangler({ workDir: openDir, protocol: "http", authMode: "open", extraArgs: ["--inspector-port", String(await freePort()), ...berthVars] });
      try {
        await requestRates([...servers, ociServer("berth-open", open.url, () => workerdPids(open.pid))], results);
      } finally {
        await open.stop();
      }
    }
    if (ONLY.includes("pull-through")) await pullThrough(servers[2], registry.url, front, results);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (KEEP) log(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }

  results.meta.loadAverage.end = loadavg()[0];
  if (MERGE) mergeRecorded(results, JSON.parse(readFileSync(MERGE, "utf8")));
  writeReports(results, OUT ?? mkdtempSync(join(tmpdir(), "berth-bench-out-")));
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
