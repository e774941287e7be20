#!/usr/bin/env node
// Benchmark (not a test): push and pull a large blob through a `wrangler dev` it starts itself.
//
//   node bench/run.mjs [--size-mib=1024] [--chunk-mib=48] [--peer] [--write]
//
// Measures, for a blob of pseudo-random bytes generated while streaming:
//   - upload as ONE PATCH of unknown length (Transfer-Encoding: chunked), then PUT ?digest=
//   - upload as PATCHes of --chunk-mib with Content-Range + Content-Length
//   - download with GET (sha256 checked while streaming)
// and the peak RSS of the workerd processes (VmRSS sampled from /proc every 50 ms, and VmHWM).
// --peer also runs the same phases against docker-registry (CNCF distribution) for comparison.
// --write writes the results to bench/RESULTS.md.
// Env: BERTH_BENCH_MIB, BERTH_BENCH_CHUNK_MIB override the defaults.

import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { startWrangler, startDistribution } from "../scripts/e2e.mjs";

// the self-signed local certificate is accepted through NODE_TLS_REJECT_UNAUTHORIZED=0; drop its warning
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (!/NODE_TLS_REJECT_UNAUTHORIZED/.test(w.message)) console.warn(w);
});

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const MiB = 1024 * 1024;
const SIZE = Number(opt("size-mib", process.env.BERTH_BENCH_MIB || 1024)) * MiB;
const CHUNK = Number(opt("chunk-mib", process.env.BERTH_BENCH_CHUNK_MIB || 48)) * MiB;
const WRITE = args.includes("--write");
const PEER = args.includes("--peer");

const MB = (bytes) => bytes / 1e6;
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "–");

// ---------------------------------------------------------------------------
// /proc helpers

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const rest = s.slice(close + 2).split(" ");
    return { pid, comm, ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/** All descendants of `root` (walking ppid links over /proc). */
function descendants(root) {
  const all = [];
  for (const d of readdirSync("/proc")) {
    if (/^\d+$/.test(d)) {
      const st = procStat(Number(d));
      if (st) all.push(st);
    }
  }
  const out = [];
  const frontier = [root];
  while (frontier.length) {
    const p = frontier.pop();
    for (const c of all) {
      if (c.ppid === p) {
        out.push(c);
        frontier.push(c.pid);
      }
    }
  }
  return out;
}

function memKiB(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const get = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m")) ?? [])[1] ?? NaN);
    return { rss: get("VmRSS"), hwm: get("VmHWM") };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/**
 * Samples VmRSS of the server processes every 50 ms; peakSingle/peakSum are maxima since
 * reset(). pidsFn() is re-evaluated every 500 ms, because wrangler replaces workerd when
 * it reloads (a config or source change); `restarted` records that it happened.
 */
class RssSampler {
  constructor(pidsFn) {
    this.pidsFn = pidsFn;
    this.pids = pidsFn();
    this.known = new Set(this.pids);
    this.ticks = 0;
    this.reset();
    this.timer = setInterval(() => this.sample(), 50);
    this.timer.unref();
  }
  sample() {
    if (++this.ticks % 10 === 0) {
      const now = this.pidsFn();
      if (now.some((p) => !this.known.has(p))) this.restarted = true;
      for (const p of now) this.known.add(p);
      this.pids = now;
    }
    let sum = 0;
    for (const pid of this.pids) {
      const { rss, hwm } = memKiB(pid);
      if (Number.isFinite(rss)) {
        sum += rss;
        this.peakSingle = Math.max(this.peakSingle, rss);
        this.hwm = Math.max(this.hwm ?? 0, hwm);
      }
    }
    this.peakSum = Math.max(this.peakSum, sum);
  }
  reset() {
    this.peakSingle = 0;
    this.peakSum = 0;
    this.restarted = false;
    this.sample();
  }
  stop() {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------------------
// phases

async function phases(server, label, pidsFn) {
  process.env.BERTH_URL = server.url;
  process.env.BERTH_HOST = server.host;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  const h = await import("../test/e2e/harness.mjs");
  // harness captured BERTH_URL at first import: use explicit URLs for a second server
  const base = server.url;
  const repo = `bench/blob-${Date.now().toString(36)}`;
  const sampler = new RssSampler(pidsFn);
  const rows = [];
  const req = (path, init = {}) => fetch(new URL(path, base + "/"), { redirect: "manual", ...init });
  const loc = (l) => new URL(l, base + "/").toString();

  async function start() {
    const r = await req(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    if (r.status !== 202) throw new Error(`POST uploads → ${r.status} ${await r.text()}`);
    await r.body?.cancel();
    return { location: loc(r.headers.get("location")), max: Number(r.headers.get("oci-chunk-max-length") || 0) };
  }
  async function finish(location, digest) {
    const u = new URL(location);
    u.searchParams.set("digest", digest);
    const r = await req(u.toString(), { method: "PUT" });
    if (r.status !== 201) throw new Error(`PUT ?digest → ${r.status} ${await r.text()}`);
    await r.body?.cancel();
  }
  const measure = async (name, fn) => {
    sampler.reset();
    const t0 = process.hrtime.bigint();
    let error = null;
    let extra = "";
    try {
      extra = (await fn()) ?? "";
    } catch (e) {
      error = e.message.split("\n")[0].slice(0, 160);
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    sampler.sample();
    const row = {
      server: label,
      phase: name,
      mb: MB(SIZE),
      seconds: s,
      mbps: error ? NaN : MB(SIZE) / s,
      peakRssMiB: sampler.peakSingle / 1024,
      peakRssSumMiB: sampler.peakSum / 1024,
      note: (error ? `FAILED: ${error}` : extra) + (sampler.restarted ? " (workerd was restarted by wrangler during this phase)" : ""),
    };
    rows.push(row);
    console.error(`  ${label} ${name}: ${error ? row.note : `${fmt(row.mbps)} MB/s in ${fmt(s, 2)} s`}, peak RSS ${fmt(row.peakRssMiB, 0)} MiB`);
    return !error;
  };

  let digestOne = null;
  await measure("upload, one PATCH (unknown length)", async () => {
    const { location } = await start();
    const hash = createHash("sha256");
    const r = await req(location, {
      method: "PATCH",
      duplex: "half",
      headers: { "Content-Type": "application/octet-stream" },
      body: h.randomStream("bench-one", SIZE, { onChunk: (c) => hash.update(c) }),
    });
    if (r.status !== 202) throw new Error(`PATCH → ${r.status} ${(await r.text()).slice(0, 200)}`);
    await r.body?.cancel();
    const digest = "sha256:" + hash.digest("hex");
    await finish(loc(r.headers.get("location") ?? location), digest);
    digestOne = digest;
  });

  let digestChunked = null;
  await measure(`upload, ${CHUNK / MiB} MiB PATCHes`, async () => {
    let { location, max } = await start();
    const chunk = max && max < CHUNK ? max : CHUNK;
    const hash = createHash("sha256");
    let n = 0;
    for (let off = 0; off < SIZE; off += chunk) {
      const len = Math.min(chunk, SIZE - off);
      const r = await req(location, {
        method: "PATCH",
        duplex: "half",
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${off}-${off + len - 1}`, "Content-Length": String(len) },
        body: h.randomStream("bench-chunked", len, { offset: off, onChunk: (c) => hash.update(c) }),
      });
      if (r.status !== 202) throw new Error(`PATCH ${off} → ${r.status} ${(await r.text()).slice(0, 200)}`);
      await r.body?.cancel();
      location = loc(r.headers.get("location"));
      n++;
    }
    const digest = "sha256:" + hash.digest("hex");
    await finish(location, digest);
    digestChunked = digest;
    return `${n} PATCHes`;
  });

  const digest = digestOne ?? digestChunked;
  await measure("download, GET", async () => {
    if (!digest) throw new Error("nothing was uploaded");
    const r = await req(`/v2/${repo}/blobs/${digest}`);
    if (r.status !== 200) throw new Error(`GET → ${r.status}`);
    const got = await h.sha256Stream(r.body);
    if (got.digest !== digest || got.size !== SIZE) throw new Error(`digest mismatch: ${got.digest} (${got.size} bytes)`);
    return "sha256 verified";
  });
  sampler.sample();
  sampler.stop();
  return { rows, hwmMiB: (sampler.hwm ?? NaN) / 1024, procs: sampler.pids.length };
}

function clientHashCeiling() {
  const buf = Buffer.alloc(64 * MiB, 7);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 4; i++) createHash("sha256").update(buf).digest();
  return MB(4 * buf.length) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function version(cmd, a) {
  try {
    return execFileSync(cmd, a, { encoding: "utf8", cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n")[0];
  } catch {
    return "?";
  }
}

async function main() {
  const results = [];
  const workDir = mkdtempSync(join(tmpdir(), "berth-bench-"));
  try {
    console.error(`[bench] blob ${SIZE / MiB} MiB, chunks ${CHUNK / MiB} MiB`);
    const server = await startWrangler({ workDir });
    let r;
    try {
      const workerd = () => descendants(server.pid).filter((p) => p.comm === "workerd").map((p) => p.pid);
      const procs = workerd();
      if (!procs.length) throw new Error("no workerd process found under wrangler");
      for (const p of procs) console.error(`[bench] workerd pid ${p}: ${cmdline(p).slice(0, 120)}`);
      r = await phases(server, "berth (wrangler dev)", workerd);
    } finally {
      await server.stop();
    }
    results.push(r);

    if (PEER) {
      const peerDir = mkdtempSync(join(tmpdir(), "berth-bench-peer-"));
      const peer = await startDistribution({ workDir: peerDir });
      try {
        results.push(await phases(peer, "docker-registry 2.8", () => [peer.pid]));
      } finally {
        await peer.stop();
        rmSync(peerDir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  const ceiling = clientHashCeiling();
  const header = "| server | phase | size (MB) | time (s) | MB/s | peak RSS, largest process (MiB) | peak RSS, sum (MiB) | note |";
  const sep = "|---|---|---:|---:|---:|---:|---:|---|";
  const lines = [header, sep];
  for (const r of results) {
    for (const row of r.rows) {
      lines.push(`| ${row.server} | ${row.phase} | ${fmt(row.mb, 0)} | ${fmt(row.seconds, 2)} | ${fmt(row.mbps)} | ${fmt(row.peakRssMiB, 0)} | ${fmt(row.peakRssSumMiB, 0)} | ${row.note} |`);
    }
  }
  const hwm = results.map((r) => `${r.rows[0]?.server}: VmHWM ${fmt(r.hwmMiB, 0)} MiB (largest of ${r.procs} process(es))`).join("; ");
  const table = lines.join("\n");
  console.log(`\n${table}\n\n${hwm}\nclient sha256 ceiling: ${fmt(ceiling, 0)} MB/s\n`);

  if (WRITE) {
    const commit = version("git", ["rev-parse", "--short", "HEAD"]);
    const md = [
      "# Berth benchmark results",
      "",
      "Generated by `node bench/run.mjs --write" + (PEER ? " --peer" : "") + "` — timings are for this machine only.",
      "",
      `- date: ${new Date().toISOString()}`,
      `- commit: ${commit}`,
      `- machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
      `- node ${process.version}, wrangler ${version(join(ROOT, "node_modules", ".bin", "wrangler"), ["--version"])}`,
      `- blob: ${SIZE / MiB} MiB of pseudo-random bytes, chunked upload in ${CHUNK / MiB} MiB PATCHes`,
      `- MB = 10^6 bytes; RSS sampled from /proc/<pid>/status every 50 ms (workerd processes under wrangler)`,
      `- client sha256 ceiling: ${fmt(ceiling, 0)} MB/s (the download is hashed while it streams)`,
      "",
      table,
      "",
      hwm,
      "",
    ].join("\n");
    // (notes added by hand below this line are lost on the next --write)
    writeFileSync(join(ROOT, "bench", "RESULTS.md"), md);
    console.error("[bench] wrote bench/RESULTS.md");
  }
  const failed = results.some((r) => r.rows.some((row) => row.note.startsWith("FAILED")));
  return failed ? 1 : 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
