// Measuring tools for bench/run.mjs: workerd memory from /proc, request-rate runs with
// percentiles, streamed uploads and downloads, a request-counting front for an upstream, and a
// pull client that fetches an image the way docker/containerd do.

import { readFileSync, readdirSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { MANIFEST_ACCEPT, randomChunks } from "../test/e2e/harness.mjs";

export const MiB = 1024 * 1024;
export const MB = (bytes) => bytes / 1e6;

// ---------------------------------------------------------------------------
// memory

function parentOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    return { comm: s.slice(s.indexOf("(") + 1, close), ppid: Number(s.slice(close + 2).split(" ")[1]) };
  } catch {
    return null;
  }
}

/** The workerd processes started under `root` (wrangler's pid). */
export function workerdPids(root) {
  const all = [];
  for (const d of readdirSync("/proc")) if (/^\d+$/.test(d)) all.push([Number(d), parentOf(Number(d))]);
  const out = [];
  const frontier = [root];
  while (frontier.length) {
    const parent = frontier.pop();
    for (const [pid, st] of all) {
      if (st?.ppid === parent) {
        frontier.push(pid);
        if (st.comm === "workerd") out.push(pid);
      }
    }
  }
  return out;
}

function rssMiB(pid) {
  try {
    const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    return kib / 1024;
  } catch {
    return NaN;
  }
}

/** Largest RSS among `pids()`, sampled every 50 ms; peak() since the last reset(). */
export class RssSampler {
  constructor(pids) {
    this.pids = pids;
    this.current = pids();
    this.max = 0;
    this.timer = setInterval(() => this.sample(), 50);
    this.timer.unref();
    this.refresh = setInterval(() => (this.current = this.pids()), 1000);
    this.refresh.unref();
  }
  sample() {
    const now = Math.max(0, ...this.current.map(rssMiB).filter(Number.isFinite));
    this.max = Math.max(this.max, now);
    return now;
  }
  reset() {
    this.max = 0;
    return this.sample();
  }
  peak() {
    this.sample();
    return this.max;
  }
  stop() {
    clearInterval(this.timer);
    clearInterval(this.refresh);
  }
}

// ---------------------------------------------------------------------------
// request rates

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * `count` calls of fn() with `concurrency` in flight, after a warm-up: {rps, p50, p99} (ms) of
 * the calls that succeeded and how many failed (a connection reset now and then is reported,
 * not fatal; more than 1% failing fails the measurement, naming the first error).
 */
export async function rate(fn, { count, concurrency }) {
  for (let i = 0; i < Math.min(10, count); i++) await fn();
  const latencies = [];
  const errors = [];
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < count) {
        issued++;
        const start = performance.now();
        try {
          await fn();
          latencies.push(performance.now() - start);
        } catch (error) {
          errors.push(error);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (errors.length > count / 100) throw new Error(`${errors.length} of ${count} requests failed, the first: ${describeError(errors[0])}`);
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, errors: errors.length, rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** An error with its cause (fetch's "fetch failed" says nothing without it). */
export function describeError(error) {
  const cause = error?.cause ? ` (${error.cause.code ?? ""} ${error.cause.message ?? ""})`.replace(/\(\s+/, "(") : "";
  return `${String(error?.message ?? error).split("\n")[0].slice(0, 300)}${cause}`;
}

/** fetch that throws unless the status is `expected`; the body is drained. */
export async function expectStatus(url, init, expected) {
  const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...init });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== expected) throw new Error(`${init?.method ?? "GET"} ${url} → ${response.status} ${body.toString("utf8").slice(0, 200)}`);
  return { response, body };
}

// ---------------------------------------------------------------------------
// streamed bodies

/**
 * PUT/PATCH `size` pseudo-random bytes of `seed` with node:http: chunked (no Content-Length)
 * or with Content-Length. Resolves the response {status, headers}.
 */
export function sendBody(method, url, seed, size, { chunked = false, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers: { ...headers, ...(chunked ? { "Transfer-Encoding": "chunked" } : { "Content-Length": String(size) }) } },
      (res) => {
        const parts = [];
        res.on("data", (d) => parts.push(d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(parts).toString("utf8") }));
      },
    );
    req.on("error", reject);
    Readable.from(randomChunks(seed, size)).pipe(req);
  });
}

/** No single request may hang the run: a stuck one is recorded as a failure after this. */
const REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

/** GET url and count the body's bytes (no hashing: the client must not be the ceiling). */
export async function drain(url, headers = {}) {
  let bytes = 0;
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (response.status !== 200) throw new Error(`→ ${response.status}`);
    for await (const chunk of response.body) bytes += chunk.length;
  } catch (error) {
    throw new Error(`GET ${url} after ${bytes} bytes of the body: ${describeError(error)}`);
  }
  return bytes;
}

// ---------------------------------------------------------------------------
// credentials

/**
 * Authorization headers for a repository on a Berth that requires authentication, the way
 * docker gets them: a token from /token (Basic credentials: ADMIN_TOKEN as the password) for
 * pull and push on that repository, then `Bearer <token>` on every request. One token per
 * repository, kept for the run (the bench sets TOKEN_TTL_SECONDS to its maximum).
 */
export function bearerTokens(base, password) {
  const tokens = new Map();
  return (repo) => {
    let headers = tokens.get(repo);
    if (!headers) {
      headers = (async () => {
        const url = new URL("/token", base);
        url.searchParams.set("service", url.host);
        url.searchParams.set("scope", `repository:${repo}:pull,push`);
        const basic = Buffer.from(`bench:${password}`).toString("base64");
        const { body } = await expectStatus(url, { headers: { Authorization: `Basic ${basic}` } }, 200);
        return { Authorization: `Bearer ${JSON.parse(body.toString("utf8")).token}` };
      })();
      tokens.set(repo, headers);
    }
    return headers;
  };
}

// ---------------------------------------------------------------------------
// upstream request counting

/** An HTTP front for `target` that counts requests (for "how often was the upstream asked"). */
export function countingFront(target) {
  const counts = { total: 0, manifests: 0, blobs: 0 };
  const server = createServer((req, res) => {
    counts.total++;
    if (/\/manifests\//.test(req.url)) counts.manifests++;
    else if (/\/blobs\//.test(req.url)) counts.blobs++;
    const up = httpRequest(new URL(req.url, target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        snapshot: () => ({ ...counts }),
        since: (before) => ({ total: counts.total - before.total, manifests: counts.manifests - before.manifests, blobs: counts.blobs - before.blobs }),
        close: () => new Promise((r) => server.close(r)),
      }),
    );
  });
}

// ---------------------------------------------------------------------------
// pulling an image

/**
 * Pulls every platform of `base/v2/<repo>` :tag like `skopeo copy --all`: the index, each
 * manifest, then config and layers `parallel` at a time, sending `headers` (credentials).
 * Returns the bytes received.
 */
export async function pullImage(base, repo, tag, { parallel = 3, headers = {} } = {}) {
  const manifest = async (ref) => JSON.parse((await expectStatus(`${base}/v2/${repo}/manifests/${ref}`, { headers: { ...headers, Accept: MANIFEST_ACCEPT } }, 200)).body.toString("utf8"));
  const top = await manifest(tag);
  const images = top.manifests ? await Promise.all(top.manifests.map((m) => manifest(m.digest))) : [top];
  const blobs = [...new Map(images.flatMap((m) => [m.config, ...m.layers]).map((d) => [d.digest, d])).values()];
  let bytes = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < blobs.length) {
        const blob = blobs[next++];
        const got = await drain(`${base}/v2/${repo}/blobs/${blob.digest}`, headers);
        if (got !== blob.size) throw new Error(`blob ${blob.digest}: ${got} bytes, expected ${blob.size}`);
        bytes += got;
      }
    }),
  );
  return bytes;
}
