// Reusable helpers for Berth's end-to-end tests (and bench/).
//
// - run()/tryRun(): run a command with args, capture output; run() throws with stderr.
// - makeTempDir(): temp dirs removed at process exit (keep them with BERTH_E2E_KEEP=1).
// - sha256File()/sha256Stream(): streamed hashing, never the whole file in memory.
// - OciLayout / buildTestImages() / buildUmociImage(): test images as OCI image layouts.
// - berthFetch()/startUpload()/uploadLocation(): the OCI upload protocol over fetch.
// - randomStream(): deterministic pseudo-random bytes (AES-256-CTR), seekable, streamed.
// - skopeo()/containersEnv(): real clients with a self-contained configuration.

import { spawn } from "node:child_process";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, existsSync, mkdirSync } from "node:fs";
import { mkdir, readFile, writeFile, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync, createGunzip } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";

// ---------------------------------------------------------------------------
// Target registry

export const BERTH_URL = (process.env.BERTH_URL ?? "").replace(/\/+$/, "");
export const BERTH_HOST = process.env.BERTH_HOST ?? (BERTH_URL ? new URL(BERTH_URL).host : "");

if (BERTH_URL.startsWith("https:") && process.env.NODE_TLS_REJECT_UNAUTHORIZED === undefined) {
  // The local registry uses a self-signed certificate; fetch() goes through tls.connect,
  // which reads this variable on every connection.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
}

export function requireTarget() {
  if (!BERTH_URL || !BERTH_HOST) {
    throw new Error("BERTH_URL / BERTH_HOST are not set: run the e2e tests through `node scripts/e2e.mjs`");
  }
}

/** A repository name unique to this run, so re-runs against the same server don't collide. */
export function uniqueRepo(prefix) {
  return `e2e/${prefix}-${randomBytes(4).toString("hex")}`;
}

// ---------------------------------------------------------------------------
// Processes

/**
 * Run a command; resolve {code, stdout, stderr}. Never throws for a non-zero exit.
 * opts: env (merged over process.env), cwd, input (string|Buffer), timeoutMs.
 */
export function tryRun(cmd, args = [], opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, opts.timeoutMs)
      : null;
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      let stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) stderr += `\n[harness] killed after ${opts.timeoutMs} ms`;
      resolve({ code: code ?? (signal ? 128 : 1), signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Run a command; resolve {stdout, stderr}; throw (with stderr) on a non-zero exit. */
export async function run(cmd, args = [], opts = {}) {
  const r = await tryRun(cmd, args, opts);
  if (r.code !== 0) {
    const shown = [cmd, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
    const e = new Error(`command failed (exit ${r.code}): ${shown}\n--- stderr ---\n${tail(r.stderr, 4000)}\n--- stdout ---\n${tail(r.stdout, 2000)}`);
    e.result = r;
    throw e;
  }
  return r;
}

function tail(s, n) {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

/** Is an executable on PATH? */
export async function which(cmd) {
  const r = await tryRun("sh", ["-c", `command -v ${cmd}`]);
  return r.code === 0 ? r.stdout.trim() : null;
}

// ---------------------------------------------------------------------------
// Temp dirs

const tempDirs = [];
let cleanupInstalled = false;

/**
 * A fresh temp dir, removed when the process exits (unless BERTH_E2E_KEEP=1).
 * short: directly under /tmp (podman refuses a runroot path longer than 50 characters).
 */
export function makeTempDir(prefix = "berth-e2e-", { short = false } = {}) {
  const base = short ? (existsSync("/tmp") ? "/tmp" : tmpdir()) : process.env.BERTH_E2E_TMP || tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, prefix));
  tempDirs.push(dir);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on("exit", cleanupTempDirs);
    for (const sig of ["SIGTERM", "SIGINT"]) {
      process.once(sig, () => {
        cleanupTempDirs();
        process.exit(128 + (sig === "SIGTERM" ? 15 : 2));
      });
    }
  }
  return dir;
}

export function cleanupTempDirs() {
  if (process.env.BERTH_E2E_KEEP === "1") return;
  while (tempDirs.length) {
    const d = tempDirs.pop();
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // podman's vfs storage may hold read-only dirs; best effort
    }
  }
}

// ---------------------------------------------------------------------------
// Hashing

export function sha256(buf) {
  return "sha256:" + createHash("sha256").update(buf).digest("hex");
}

/** sha256 digest and size of a file, streamed. */
export async function sha256File(path) {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: "sha256:" + h.digest("hex"), size };
}

/** sha256 digest and size of a web ReadableStream or async iterable, streamed. */
export async function sha256Stream(stream) {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: "sha256:" + h.digest("hex"), size };
}

/** sha256 of the gunzipped content of a file (a layer's diff_id), streamed. */
export async function sha256Gunzipped(path) {
  const h = createHash("sha256");
  let size = 0;
  await pipeline(
    createReadStream(path),
    createGunzip(),
    new Writable({
      write(chunk, _enc, cb) {
        h.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
  );
  return { digest: "sha256:" + h.digest("hex"), size };
}

// ---------------------------------------------------------------------------
// Deterministic pseudo-random data (AES-256-CTR keystream: fast, seekable, not zeros)

const ZEROS = Buffer.alloc(1 << 20);

/**
 * Async generator of pseudo-random bytes [offset, offset+length) of the stream named `seed`.
 * The same seed always yields the same bytes; any slice can be regenerated on its own.
 */
export async function* randomChunks(seed, length, { offset = 0, chunkSize = 1 << 20 } = {}) {
  const key = createHash("sha256").update(String(seed)).digest();
  const block = Math.floor(offset / 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  let skip = offset % 16;
  if (skip) cipher.update(ZEROS.subarray(0, skip));
  let left = length;
  while (left > 0) {
    const n = Math.min(left, chunkSize, ZEROS.length);
    left -= n;
    yield cipher.update(ZEROS.subarray(0, n));
  }
}

/**
 * A web ReadableStream of pseudo-random bytes (pull-based: respects backpressure).
 * onChunk(buf) sees every chunk (e.g. to hash while sending).
 */
export function randomStream(seed, length, { offset = 0, onChunk } = {}) {
  const it = randomChunks(seed, length, { offset });
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) {
        controller.close();
        return;
      }
      onChunk?.(value);
      controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Digest of randomChunks(seed, length, {offset}) without sending it anywhere. */
export async function randomDigest(seed, length, opts = {}) {
  return sha256Stream(randomChunks(seed, length, opts));
}

// ---------------------------------------------------------------------------
// HTTP against the registry

/** fetch() against the registry; `path` may be absolute or relative to BERTH_URL. */
export function berthFetch(path, init = {}) {
  requireTarget();
  const url = new URL(path, BERTH_URL + "/");
  return fetch(url, { redirect: "manual", ...init });
}

/** Resolve an upload Location (may be relative) against BERTH_URL. */
export function resolveLocation(location) {
  if (!location) throw new Error("response has no Location header");
  return new URL(location, BERTH_URL + "/").toString();
}

/** Add query parameters to a URL string (keeps the existing ones, e.g. an upload state token). */
export function withQuery(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v);
  return u.toString();
}

/** Read a response's OCI error body, for assertion messages. */
export async function describe(res) {
  let body = "";
  try {
    body = await res.text();
  } catch {
    // ignore
  }
  return `${res.status} ${res.statusText} ${body.slice(0, 500)}`;
}

// ---------------------------------------------------------------------------
// tar (ustar) writer, enough for test layers: regular files and directories

function tarHeader({ name, size, mode, type, mtime }) {
  const h = Buffer.alloc(512);
  const put = (s, off, len) => h.write(s, off, len, "utf8");
  const octal = (n, len) => n.toString(8).padStart(len - 1, "0") + "\0";
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  put("        ", 148, 8); // checksum placeholder
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put("root", 265, 32);
  put("root", 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return h;
}

/**
 * Build an uncompressed tar. entries: [{path, content?: string|Buffer, mode?, dir?: true}].
 * Parent directories are added automatically. Deterministic (mtime fixed).
 */
export function makeTar(entries, { mtime = 1_700_000_000 } = {}) {
  const parts = [];
  const seenDirs = new Set();
  const addDir = (d) => {
    if (!d || seenDirs.has(d)) return;
    const parent = d.includes("/") ? d.slice(0, d.lastIndexOf("/")) : "";
    addDir(parent);
    seenDirs.add(d);
    parts.push(tarHeader({ name: d + "/", size: 0, mode: 0o755, type: "5", mtime }));
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, "");
    if (e.dir) {
      addDir(path.replace(/\/+$/, ""));
      continue;
    }
    addDir(path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
    const body = Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content ?? "", "utf8");
    parts.push(tarHeader({ name: path, size: body.length, mode: e.mode ?? 0o644, type: "0", mtime }));
    parts.push(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// OCI image layouts

export const MT = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
};

export const MANIFEST_ACCEPT = [MT.index, MT.manifest, MT.dockerList, MT.dockerManifest].join(", ");

/** Writes blobs and index.json of an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md). */
export class OciLayout {
  constructor(dir) {
    this.dir = dir;
    this.refs = []; // index.json entries
  }

  async init() {
    await mkdir(join(this.dir, "blobs", "sha256"), { recursive: true });
    await writeFile(join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await this.writeIndexJson();
    return this;
  }

  /** Store bytes as a blob; return its descriptor. */
  async addBlob(bytes, mediaType, extra = {}) {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    const digest = sha256(buf);
    await writeFile(join(this.dir, "blobs", "sha256", digest.slice(7)), buf);
    return { mediaType, digest, size: buf.length, ...extra };
  }

  /**
   * A layer from tar entries. compress: true → tar+gzip, false → plain tar.
   * Returns {descriptor, diffId}.
   */
  async addLayer(entries, { compress = true } = {}) {
    const tar = makeTar(entries);
    const diffId = sha256(tar);
    const bytes = compress ? gzipSync(tar, { level: 6 }) : tar;
    const descriptor = await this.addBlob(bytes, compress ? MT.layerGzip : MT.layerTar);
    return { descriptor, diffId };
  }

  /**
   * An image: config + manifest. layers: results of addLayer().
   * platform: {architecture, os, variant?}. omitMediaType: leave out the manifest's
   * top-level mediaType (valid OCI; umoci does it).
   * Returns {descriptor (of the manifest, with platform), manifest, manifestBytes, config, configDescriptor}.
   */
  async addImage({ layers, platform = { architecture: "amd64", os: "linux" }, omitMediaType = false, annotations, label = "image" }) {
    const config = {
      created: "2024-01-01T00:00:00Z",
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: ["/bin/sh"],
        Labels: { "org.berth.e2e": label },
      },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `berth e2e ${label} layer ${i}` })),
    };
    const configDescriptor = await this.addBlob(JSON.stringify(config), MT.config);
    const manifest = {
      schemaVersion: 2,
      ...(omitMediaType ? {} : { mediaType: MT.manifest }),
      config: configDescriptor,
      layers: layers.map((l) => l.descriptor),
      ...(annotations ? { annotations } : {}),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
    const d = await this.addBlob(manifestBytes, MT.manifest);
    const descriptor = { ...d, platform: { ...platform } };
    return { descriptor, manifest, manifestBytes, digest: d.digest, config, configDescriptor };
  }

  /** An image index over manifest descriptors (which carry their platform). */
  async addIndex(manifestDescriptors, { annotations } = {}) {
    const index = {
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: manifestDescriptors.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: m.platform })),
      ...(annotations ? { annotations } : {}),
    };
    const indexBytes = Buffer.from(JSON.stringify(index, null, 2));
    const descriptor = await this.addBlob(indexBytes, MT.index);
    return { descriptor, index, indexBytes, digest: descriptor.digest };
  }

  /** Name a manifest/index in index.json (`oci:<dir>:<ref>` in skopeo). */
  async tag(ref, descriptor) {
    const { platform: _p, annotations: _a, ...plain } = descriptor;
    this.refs = this.refs.filter((r) => r.annotations?.["org.opencontainers.image.ref.name"] !== ref);
    this.refs.push({ ...plain, annotations: { "org.opencontainers.image.ref.name": ref } });
    await this.writeIndexJson();
  }

  async writeIndexJson() {
    await writeFile(join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: this.refs }, null, 2));
  }
}

/** Read a layout: {index, refs: Map(ref → descriptor)}. */
export async function readLayout(dir) {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  const refs = new Map();
  for (const m of index.manifests ?? []) {
    const ref = m.annotations?.["org.opencontainers.image.ref.name"];
    if (ref) refs.set(ref, m);
  }
  return { index, refs };
}

export function blobPath(dir, digest) {
  const [alg, hex] = digest.split(":");
  return join(dir, "blobs", alg, hex);
}

export async function readBlob(dir, digest) {
  return readFile(blobPath(dir, digest));
}

/** All digests reachable from a manifest or index descriptor in a layout (manifests, configs, layers). */
export async function reachableBlobs(dir, descriptor) {
  const out = new Map(); // digest → mediaType
  const walk = async (desc) => {
    out.set(desc.digest, desc.mediaType);
    const mt = desc.mediaType;
    if (mt === MT.index || mt === MT.dockerList || mt === MT.manifest || mt === MT.dockerManifest) {
      const doc = JSON.parse((await readBlob(dir, desc.digest)).toString("utf8"));
      if (doc.manifests) for (const m of doc.manifests) await walk(m);
      if (doc.config) out.set(doc.config.digest, doc.config.mediaType);
      if (doc.layers) for (const l of doc.layers) out.set(l.digest, l.mediaType);
    }
  };
  await walk(descriptor);
  return out;
}

/**
 * Assert-style helper: every blob reachable from `descriptor` in layout `a` exists in layout
 * `b` with identical bytes (hash of the file matches its name in both). Returns the count.
 */
export async function compareLayouts(a, b, descriptor) {
  const blobs = await reachableBlobs(a, descriptor);
  for (const digest of blobs.keys()) {
    const pa = blobPath(a, digest);
    const pb = blobPath(b, digest);
    if (!existsSync(pb)) throw new Error(`blob ${digest} (${blobs.get(digest)}) missing in ${b}`);
    const [ha, hb] = await Promise.all([sha256File(pa), sha256File(pb)]);
    if (ha.digest !== digest) throw new Error(`source blob ${digest} is corrupt (hash ${ha.digest})`);
    if (hb.digest !== digest || hb.size !== ha.size) {
      throw new Error(`blob ${digest} differs: got ${hb.digest} (${hb.size} bytes), want ${ha.size} bytes`);
    }
  }
  return blobs.size;
}

/** Files of the layout's blobs dir: [{digest, size}]. */
export async function listLayoutBlobs(dir) {
  const out = [];
  const root = join(dir, "blobs");
  for (const alg of await readdir(root)) {
    for (const hex of await readdir(join(root, alg))) {
      const s = await stat(join(root, alg, hex));
      out.push({ digest: `${alg}:${hex}`, size: s.size });
    }
  }
  return out.sort((x, y) => x.digest.localeCompare(y.digest));
}

// ---------------------------------------------------------------------------
// Test images

/**
 * Build the standard test images into an OCI layout at `dir`. Content includes `nonce`
 * so no two runs/tests share blobs unless they mean to (clients cache blob locations).
 *
 * Refs in the layout:
 *   app   linux/amd64, 3 layers: base (shared), app-bin (~256 KiB random), app-etc
 *   tool  linux/amd64, 2 layers: base (shared with app), tool; manifest WITHOUT mediaType
 *   multi OCI index: linux/amd64, linux/arm64, linux/arm/v7 (each: base + its own layer)
 *   plain linux/amd64, 2 uncompressed (application/vnd.oci.image.layer.v1.tar) layers
 */
export async function buildTestImages(dir, { nonce = randomBytes(8).toString("hex") } = {}) {
  const layout = await new OciLayout(dir).init();
  const base = await layout.addLayer([
    { path: "etc/os-release", content: `NAME=berth-e2e\nID=berth\nNONCE=${nonce}\n` },
    { path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n" },
    { path: "usr/share/berth/base.bin", content: randomBytes(64 * 1024) },
    { path: "tmp", dir: true },
  ]);
  const appBin = await layout.addLayer([
    { path: "usr/local/bin/app", content: randomBytes(256 * 1024), mode: 0o755 },
  ]);
  const appEtc = await layout.addLayer([
    { path: "etc/app/config.toml", content: `# app config ${nonce}\nlisten = "127.0.0.1:8080"\n`.repeat(50) },
  ]);
  const toolLayer = await layout.addLayer([
    { path: "usr/local/bin/tool", content: randomBytes(32 * 1024), mode: 0o755 },
  ]);
  const app = await layout.addImage({ layers: [base, appBin, appEtc], label: "app" });
  const tool = await layout.addImage({ layers: [base, toolLayer], label: "tool", omitMediaType: true });
  await layout.tag("app", app.descriptor);
  await layout.tag("tool", tool.descriptor);

  const platforms = [
    { architecture: "amd64", os: "linux" },
    { architecture: "arm64", os: "linux" },
    { architecture: "arm", os: "linux", variant: "v7" },
  ];
  const perPlatform = [];
  for (const p of platforms) {
    const key = p.architecture + (p.variant ? `-${p.variant}` : "");
    const own = await layout.addLayer([
      { path: `usr/lib/berth/${key}.txt`, content: `built for ${key} ${nonce}\n` },
      { path: `usr/local/bin/hello-${key}`, content: randomBytes(16 * 1024), mode: 0o755 },
    ]);
    perPlatform.push({ key, platform: p, image: await layout.addImage({ layers: [base, own], platform: p, label: `multi-${key}` }) });
  }
  const multi = await layout.addIndex(perPlatform.map((x) => x.image.descriptor));
  await layout.tag("multi", multi.descriptor);

  const plain1 = await layout.addLayer([{ path: "srv/data/a.txt", content: `uncompressed ${nonce}\n`.repeat(2000) }], { compress: false });
  const plain2 = await layout.addLayer([{ path: "srv/data/b.bin", content: randomBytes(128 * 1024) }], { compress: false });
  const plain = await layout.addImage({ layers: [plain1, plain2], label: "plain" });
  await layout.tag("plain", plain.descriptor);

  return {
    dir,
    nonce,
    layout,
    layers: { base, appBin, appEtc, toolLayer, plain1, plain2 },
    app,
    tool,
    multi,
    platforms: Object.fromEntries(perPlatform.map((x) => [x.key, x.image])),
    plain,
  };
}

/**
 * Build an image with umoci (an independent producer of OCI layouts) at `dir`:`tag`.
 * Returns {dir, tag, manifestDigest}.
 */
export async function buildUmociImage(dir, tag = "latest", { architecture = "amd64", nonce = randomBytes(8).toString("hex") } = {}) {
  const work = makeTempDir("berth-umoci-");
  const bundle = join(work, "bundle");
  await run("umoci", ["init", "--layout", dir]);
  await run("umoci", ["new", "--image", `${dir}:${tag}`]);
  await run("umoci", ["config", "--image", `${dir}:${tag}`, "--architecture", architecture, "--os", "linux", "--config.cmd", "/bin/true"]);
  await run("umoci", ["unpack", "--image", `${dir}:${tag}`, bundle]);
  await mkdir(join(bundle, "rootfs", "etc"), { recursive: true });
  await writeFile(join(bundle, "rootfs", "etc", "umoci-e2e"), `made by umoci ${nonce}\n`);
  await writeFile(join(bundle, "rootfs", "etc", "random.bin"), randomBytes(48 * 1024));
  await run("umoci", ["repack", "--image", `${dir}:${tag}`, bundle]);
  await run("umoci", ["gc", "--layout", dir]);
  const { refs } = await readLayout(dir);
  const desc = refs.get(tag);
  if (!desc) throw new Error(`umoci produced no ref ${tag} in ${dir}`);
  return { dir, tag, manifestDigest: desc.digest, descriptor: desc };
}

// ---------------------------------------------------------------------------
// Real clients

let containersEnvCache = null;

/**
 * Env for skopeo/podman with a self-contained configuration (policy, registries.conf,
 * storage.conf with the vfs driver, containers.conf), all under a temp dir.
 */
export async function containersEnv() {
  if (containersEnvCache) return containersEnvCache;
  const dir = makeTempDir("berth-containers-");
  const policy = join(dir, "policy.json");
  const registries = join(dir, "registries.conf");
  const storage = join(dir, "storage.conf");
  const conf = join(dir, "containers.conf");
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  await writeFile(registries, `unqualified-search-registries = []\n[[registry]]\nlocation = "${BERTH_HOST}"\ninsecure = true\n`);
  await writeFile(storage, `[storage]\ndriver = "vfs"\nrunroot = "${join(dir, "run")}"\ngraphroot = "${join(dir, "storage")}"\n`);
  await writeFile(conf, `[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n[containers]\nlog_driver = "k8s-file"\n`);
  const tmp = join(dir, "tmp");
  await mkdir(tmp, { recursive: true });
  containersEnvCache = {
    dir,
    policy,
    env: {
      CONTAINERS_REGISTRIES_CONF: registries,
      CONTAINERS_STORAGE_CONF: storage,
      CONTAINERS_CONF: conf,
      TMPDIR: tmp,
    },
  };
  return containersEnvCache;
}

/** Run skopeo with the harness policy. args after the global flags. */
export async function skopeo(args, { debug = false, allowFail = false, timeoutMs = 600_000 } = {}) {
  const c = await containersEnv();
  const full = ["--policy", c.policy, "--tmpdir", c.env.TMPDIR, ...(debug ? ["--debug"] : []), ...args];
  if (allowFail) return tryRun("skopeo", full, { env: c.env, timeoutMs });
  return run("skopeo", full, { env: c.env, timeoutMs });
}

/** docker://BERTH_HOST/<repo>[:tag|@digest] */
export function dockerRef(repo, tagOrDigest) {
  const sep = tagOrDigest.startsWith("sha256:") || tagOrDigest.startsWith("sha512:") ? "@" : ":";
  return `docker://${BERTH_HOST}/${repo}${sep}${tagOrDigest}`;
}

// ---------------------------------------------------------------------------
// Recording proxy: an https server on 127.0.0.1 that forwards every request to the registry
// and records method, path, headers and the answer — to check what a real client actually sent —
// and can inject the faults of a real network in front of a registry.

let certCache = null;

/** A self-signed certificate for 127.0.0.1 (made with openssl once per process). */
export async function selfSignedCert() {
  if (certCache) return certCache;
  const dir = makeTempDir("berth-cert-");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ]);
  certCache = { key: await readFile(key), cert: await readFile(cert) };
  return certCache;
}

/**
 * Start a recording proxy in front of `target` (default BERTH_URL). The Host header is forwarded
 * unchanged, so a registry that builds absolute Locations from it keeps the client on the proxy.
 * Faults (off by default):
 * - cutAfterBytes / cutPatch: once, after `cutAfterBytes` bytes of the `cutPatch`-th PATCH whose
 *   body is at least twice that (default the first), destroy both the client's connection and the
 *   one to the registry — a connection dropped in the middle of a chunk;
 * - rejectAbove: answer 413 to any body declared larger, before reading it, as Cloudflare's edge
 *   does above a plan's limit.
 * Returns {host, url, requests: [{method, path, headers, status, responseHeaders, cut?}], close()}.
 */
export async function startRecordingProxy({ target = BERTH_URL, cutAfterBytes, cutPatch = 1, rejectAbove } = {}) {
  if (!target) requireTarget();
  const https = await import("node:https");
  const { key, cert } = await selfSignedCert();
  const upstream = new URL(target);
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const requests = [];
  let bigPatches = 0;
  let cuts = 0;
  const server = https.createServer({ key, cert }, (req, res) => {
    const record = { method: req.method, path: req.url, headers: { ...req.headers }, status: 0 };
    requests.push(record);
    const length = Number(req.headers["content-length"] ?? 0);
    if (rejectAbove && length > rejectAbove) {
      record.status = 413;
      res.writeHead(413, { "content-type": "text/html", connection: "close" });
      res.end("<html><body><h1>413 Request Entity Too Large</h1></body></html>");
      return;
    }
    const up = https.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        record.status = ur.statusCode ?? 0;
        record.responseHeaders = { ...ur.headers };
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", (e) => {
      if (record.cut) return;
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${e.message}`);
    });
    if (cutAfterBytes && cuts === 0 && req.method === "PATCH" && length >= 2 * cutAfterBytes && ++bigPatches === cutPatch) {
      cuts += 1;
      record.cut = true;
      let forwarded = 0;
      req.on("data", (piece) => {
        if (forwarded >= cutAfterBytes) return;
        const take = piece.subarray(0, cutAfterBytes - forwarded);
        forwarded += take.length;
        up.write(take);
        if (forwarded >= cutAfterBytes) {
          up.destroy();
          req.socket.destroy();
        }
      });
      return;
    }
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        agent.destroy();
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
