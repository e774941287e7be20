// Helpers for the pull-through cache e2e tests (test/e2e/cache-*.test.mjs).
//
// scripts/e2e.mjs starts the upstream peers (test/upstream/peers/start.mjs) before wrangler dev
// and configures Berth's UPSTREAMS with them (see upstreamVars in scripts/e2e.mjs); the tests find
// the peers in BERTH_UPSTREAM_PEERS (JSON, the shape of test/upstream/peers.ts).
//
// - upstreamPeers / upstreamSkip: the peers, or why the cache tests cannot run.
// - UpstreamLog: what the logging fronts, the token server and the CDN saw since a mark.
// - buildImage(): a fresh image (unique bytes, real tar+gzip layers) in an OCI layout.
// - pushUpstream(): push an image straight into an upstream registry (not through its front),
//   answering Basic and Bearer challenges like a client would.
// - setFault()/clearFault(): switch a front's runtime faults (POST/DELETE /__fault).
// - upstreamStats(): GET /api/v1/upstreams.

import { randomBytes } from "node:crypto";
import { OciLayout, berthFetch, makeTempDir, readBlob, MT } from "./harness.mjs";

const raw = process.env.BERTH_UPSTREAM_PEERS;
/** The upstream peers, or null when scripts/e2e.mjs did not start them. */
export const upstreamPeers = raw ? JSON.parse(raw) : null;

/** A skip reason for node:test when the peers are not there (false when they are). */
export const upstreamSkip = upstreamPeers
  ? false
  : `no upstream peers (BERTH_UPSTREAM_PEERS unset): run with node scripts/e2e.mjs --target=wrangler (target is ${process.env.BERTH_E2E_TARGET ?? "unknown"})`;

const DIGEST = /sha256:[0-9a-f]{64}/g;

/** The shared request log of all fronts, the token server and the CDN. */
export class UpstreamLog {
  constructor(since) {
    this.since = since;
  }

  /** A mark: only requests after it are reported. */
  static async mark() {
    const response = await fetch(`${upstreamPeers.open}/__log?since=${Number.MAX_SAFE_INTEGER}`);
    const { last } = await response.json();
    return new UpstreamLog(last);
  }

  /**
   * Entries after the mark: {server, method, path, auth?, scope?}. With `repo`, only requests
   * under /v2/<repo>/ (or the CDN's /blobs/<repo>/) and token requests scoped to it.
   */
  async entries(repo) {
    const response = await fetch(`${upstreamPeers.open}/__log?since=${this.since}`);
    const { entries } = await response.json();
    if (!repo) return entries;
    return entries.filter(
      (e) => e.path.startsWith(`/v2/${repo}/`) || e.path.startsWith(`/blobs/${repo}/`) || (e.scope ?? "").includes(`repository:${repo}:`),
    );
  }

  /** Entries as strings: `open GET /v2/<repo>/blobs/<sha256:…>[Basic]`, digests shortened to 12 hex. */
  async summary(repo) {
    return (await this.entries(repo)).map(
      (e) => `${e.server} ${e.method} ${e.path.replace(DIGEST, (d) => d.slice(0, 19))}${e.auth ? ` [${e.auth}]` : ""}`,
    );
  }

  /** Upstream requests of one kind for `repo`: counts of `METHOD manifests|blobs`. */
  async counts(repo) {
    const counts = {};
    for (const e of await this.entries(repo)) {
      const kind = /\/manifests\//.test(e.path) ? "manifests" : /\/blobs\//.test(e.path) ? "blobs" : e.server === "token-server" ? "token" : e.path;
      const key = `${e.method} ${kind}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

/** Short form of a digest as it appears in UpstreamLog.summary(). */
export const short = (digest) => digest.slice(0, 19);

/** A repository name unique to this run, for content nobody fetched yet. */
export function freshRepo(prefix) {
  return `e2e/${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * A new single-arch image with unique bytes: a small base layer, one of `bigBytes` random bytes
 * (gzip of random data is about its own size) and a small text layer. In an OCI layout under a
 * temp dir (ref "image"). Returns {dir, layout, image, blobs: [{digest, size}] (config + layers)}.
 */
export async function buildImage({ bigBytes = 512 * 1024, label = "cache", platform } = {}) {
  const dir = makeTempDir("berth-up-img-");
  const layout = await new OciLayout(dir).init();
  const nonce = randomBytes(8).toString("hex");
  const layers = [
    await layout.addLayer([{ path: "etc/berth-release", content: `berth cache e2e ${label} ${nonce}\n` }]),
    await layout.addLayer([{ path: "usr/share/berth/big.bin", content: randomBytes(bigBytes) }]),
    await layout.addLayer([{ path: "etc/berth/note.txt", content: `layer of ${label} ${nonce}\n`.repeat(20) }]),
  ];
  const image = await layout.addImage({ layers, label, ...(platform ? { platform } : {}) });
  await layout.tag("image", image.descriptor);
  const blobs = [image.configDescriptor, ...image.manifest.layers].map(({ digest, size }) => ({ digest, size }));
  return { dir, layout, image, blobs, layers };
}

/** A two-platform index (linux/amd64, linux/arm64) of fresh images, in one layout (ref "index"). */
export async function buildIndex({ label = "cache-multi" } = {}) {
  const dir = makeTempDir("berth-up-idx-");
  const layout = await new OciLayout(dir).init();
  const nonce = randomBytes(8).toString("hex");
  const shared = await layout.addLayer([{ path: "etc/berth-release", content: `berth multi ${label} ${nonce}\n` }]);
  const images = {};
  for (const architecture of ["amd64", "arm64"]) {
    const own = await layout.addLayer([{ path: `usr/lib/${architecture}.bin`, content: randomBytes(64 * 1024) }]);
    images[architecture] = await layout.addImage({ layers: [shared, own], platform: { architecture, os: "linux" }, label: `${label}-${architecture}` });
  }
  const index = await layout.addIndex([images.amd64.descriptor, images.arm64.descriptor]);
  await layout.tag("index", index.descriptor);
  return { dir, layout, index, images };
}

// ---------------------------------------------------------------------------
// Pushing straight into an upstream registry (distribution 2.8)

/** fetch with a registry's auth dance: Basic, or a Bearer token for pull,push from the realm. */
async function authedFetch(url, init, { credentials, repo, cache }) {
  const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}` : undefined;
  const send = (authorization) => {
    const headers = new Headers(init.headers);
    if (authorization) headers.set("Authorization", authorization);
    // bodies are Buffers here, so a retry can send them again
    return fetch(url, { ...init, headers, redirect: "manual" });
  };
  let response = await send(cache.authorization);
  if (response.status !== 401) return response;
  const challenge = response.headers.get("www-authenticate") ?? "";
  await response.arrayBuffer();
  if (/^basic/i.test(challenge)) {
    cache.authorization = basic;
  } else if (/^bearer/i.test(challenge)) {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set("service", params.service);
    tokenUrl.searchParams.set("scope", `repository:${repo}:pull,push`);
    const tokenResponse = await fetch(tokenUrl, { headers: basic ? { Authorization: basic } : {} });
    if (tokenResponse.status !== 200) throw new Error(`token for ${repo}: ${tokenResponse.status} ${await tokenResponse.text()}`);
    const body = await tokenResponse.json();
    cache.authorization = `Bearer ${body.token ?? body.access_token}`;
  } else {
    throw new Error(`${url}: 401 with challenge "${challenge}"`);
  }
  return send(cache.authorization);
}

/**
 * Push the manifest or index `descriptor` of layout `dir` (and everything it references) to
 * `registryUrl` (a direct registry URL, e.g. upstreamPeers.direct.open) as `<repo>:<tag>`.
 */
export async function pushUpstream(registryUrl, repo, tag, dir, descriptor, { credentials } = {}) {
  const auth = { credentials, repo, cache: {} };
  const pushBlob = async (digest) => {
    const head = await authedFetch(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: "HEAD" }, auth);
    if (head.status === 200) return;
    const bytes = await readBlob(dir, digest);
    const start = await authedFetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: "POST" }, auth);
    if (start.status !== 202) throw new Error(`upload start for ${repo}: ${start.status} ${await start.text()}`);
    await start.arrayBuffer();
    const location = new URL(start.headers.get("location"), registryUrl);
    location.searchParams.set("digest", digest);
    const put = await authedFetch(location.toString(), { method: "PUT", headers: { "Content-Type": "application/octet-stream" }, body: bytes }, auth);
    if (put.status !== 201) throw new Error(`upload of ${digest} to ${repo}: ${put.status} ${await put.text()}`);
    await put.arrayBuffer();
  };
  const pushManifest = async (desc, reference) => {
    const bytes = await readBlob(dir, desc.digest);
    const doc = JSON.parse(bytes.toString("utf8"));
    for (const child of doc.manifests ?? []) await pushManifest(child, child.digest);
    if (doc.config) await pushBlob(doc.config.digest);
    for (const layer of doc.layers ?? []) await pushBlob(layer.digest);
    const put = await authedFetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, { method: "PUT", headers: { "Content-Type": desc.mediaType }, body: bytes }, auth);
    if (put.status !== 201) throw new Error(`manifest ${repo}:${reference}: ${put.status} ${await put.text()}`);
    await put.arrayBuffer();
  };
  await pushManifest(descriptor, tag);
}

// ---------------------------------------------------------------------------
// Runtime faults of a front (see test/upstream/peers/front.mjs)

/** Make the front at `frontUrl` answer requests under /v2/<repo>/ with `mode`. */
export async function setFault(frontUrl, repo, mode, { match, method, times, message, chunked, rate } = {}) {
  const url = new URL("/__fault", frontUrl);
  url.searchParams.set("repo", repo);
  url.searchParams.set("mode", mode);
  if (match) url.searchParams.set("match", match);
  if (method) url.searchParams.set("method", method);
  if (times) url.searchParams.set("times", String(times));
  if (message) url.searchParams.set("message", message);
  if (chunked) url.searchParams.set("chunked", "1");
  if (rate) url.searchParams.set("rate", String(rate));
  const response = await fetch(url, { method: "POST" });
  if (response.status !== 200) throw new Error(`setFault ${repo} ${mode}: ${response.status} ${await response.text()}`);
}

export async function clearFault(frontUrl, repo) {
  const url = new URL("/__fault", frontUrl);
  if (repo) url.searchParams.set("repo", repo);
  const response = await fetch(url, { method: "DELETE" });
  if (response.status !== 200) throw new Error(`clearFault ${repo}: ${response.status}`);
}

// ---------------------------------------------------------------------------
// Berth

/** GET /api/v1/upstreams → {name → entry}. */
export async function upstreamStats() {
  const response = await berthFetch("/api/v1/upstreams");
  if (response.status !== 200) throw new Error(`/api/v1/upstreams: ${response.status} ${await response.text()}`);
  const { upstreams } = await response.json();
  return Object.fromEntries(upstreams.map((u) => [u.name, u]));
}

/** Read a whole response body; {bytes, error} — error set when the stream broke. */
export async function readBody(response) {
  const chunks = [];
  try {
    for await (const chunk of response.body) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

export { MT };
