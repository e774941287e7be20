#!/usr/bin/env node
// End-to-end test runner for Berth.
//
//   node scripts/e2e.mjs [--target=wrangler|distribution|external] [--keep] [test files…]
//
// wrangler (default): starts `wrangler dev --local-protocol https` on 127.0.0.1:<free port>
//   with a fresh --persist-to dir, waits for GET /v2/ → 200, runs
//   `node --test --test-concurrency=1` over test/e2e/*.test.mjs with BERTH_URL/BERTH_HOST,
//   then stops wrangler and its whole process group (workerd included).
// distribution: same tests against docker-registry (CNCF distribution) with a self-signed
//   certificate — a reference run that checks the tests themselves.
// external: runs the tests against $BERTH_URL (and $BERTH_HOST) without starting anything.
//
// With --target=wrangler the upstream peers of the pull-through cache tests start first
// (test/upstream/peers/start.mjs: docker-registry open / htpasswd / token auth on 127.0.0.1,
// logging + fault-injecting fronts, a token server, a CDN) and wrangler dev gets
// `--var UPSTREAMS:<json>` naming them (see upstreamVars below). The tests learn about them from
// BERTH_UPSTREAM_PEERS (JSON, the shape of test/upstream/peers.ts) and BERTH_UPSTREAM_LOG_URL.
//
// Exit code = the test run's exit code (or 1 if the server could not be started).
// Env: BERTH_E2E_START_TIMEOUT_MS (default 120000), BERTH_E2E_TIMEOUT_MS (whole test run, default 45 min), BERTH_E2E_VERBOSE=1 (server log to stderr),
//      BERTH_E2E_KEEP=1 (keep temp dirs), BERTH_LARGE_BLOB_MIB (large blob test size),
//      BERTH_E2E_UPSTREAMS=0 (do not start the upstream peers; the cache tests skip).

import { spawn } from "node:child_process";
import { freePort, killGroup } from "./processes.mjs";
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { startUpstreamPeers } from "../test/upstream/peers/start.mjs";
import { wranglerDevEnv } from "./wrangler-env.mjs";

export { freePort, killGroup };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const target = opt("target", process.env.BERTH_E2E_TARGET || "wrangler");
const keep = args.includes("--keep") || process.env.BERTH_E2E_KEEP === "1";
const files = args.filter((a) => !a.startsWith("--"));
const startTimeoutMs = Number(process.env.BERTH_E2E_START_TIMEOUT_MS || 120_000);
const verbose = process.env.BERTH_E2E_VERBOSE === "1";

const log = (...m) => console.error("[e2e]", ...m);

/** GET url with certificate checks off; resolve the status code (0 on connection error). */
export function probe(url, timeoutMs = 3000) {
  return new Promise((res) => {
    const req = (url.startsWith("http:") ? httpRequest : request)(url, { method: "GET", rejectUnauthorized: false, timeout: timeoutMs }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode ?? 0));
      r.on("error", () => res(0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => res(0));
    req.end();
  });
}

function readFileSyncSafe(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function tailFile(path, lines = 80) {
  try {
    const t = readFileSync(path, "utf8").split("\n");
    return t.slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Start wrangler dev (https unless protocol is "http", fresh persist dir). Returns {url, host, pid, logPath, stop()}.
 * Used by this runner and by bench/run.mjs.
 */
export async function startWrangler({ workDir, port, extraArgs = [], authMode = "open", timeoutMs = startTimeoutMs, echo = verbose, protocol = "https" } = {}) {
  port ??= await freePort();
  const persist = join(workDir, "persist");
  const logPath = join(workDir, "wrangler.log");
  const fd = openSync(logPath, "a");
  const bin = join(ROOT, "node_modules", ".bin", "wrangler");
  if (!existsSync(bin)) throw new Error(`${bin} not found: run npm ci first`);
  // The suites and the bench push large blobs in ONE request (as clients do on a plan whose body
  // limit allows it); body-limits.test.mjs sets its own small MAX_CHUNK_BYTES.
  const limitArgs = extraArgs.some((a) => a.startsWith("MAX_CHUNK_BYTES:")) ? [] : ["--var", `MAX_CHUNK_BYTES:${5 * 1024 ** 3}`];
  const child = spawn(
    bin,
    // The e2e suites test the registry in open mode, explicitly; test/e2e/auth*.test.mjs start their own with authMode "required".
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--local-protocol", protocol, "--persist-to", persist, "--var", `AUTH_MODE:${authMode}`, ...limitArgs, ...extraArgs],
    {
      cwd: ROOT,
      detached: true, // own process group: we kill -pid to take workerd down too
      stdio: ["ignore", echo ? "inherit" : fd, echo ? "inherit" : fd],
      env: {
        ...process.env,
        ...wranglerDevEnv(),
        WRANGLER_SEND_METRICS: "false",
        // no internet: skip wrangler's npm update check (it runs with the banner) and
        // miniflare's download of the Request.cf object from workers.cloudflare.com
        WRANGLER_HIDE_BANNER: "true",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        BROWSER: "none",
        NO_COLOR: "1",
      },
    },
  );
  closeSync(fd);
  const url = `${protocol}://127.0.0.1:${port}`;
  const server = {
    url,
    host: `127.0.0.1:${port}`,
    pid: child.pid,
    logPath,
    exited: false,
    stop: () => killGroup(child.pid),
  };
  child.on("exit", (code, sig) => {
    server.exited = true;
    server.exitInfo = `exit code ${code} signal ${sig}`;
  });
  // With authentication required, /v2/ answers 401 (with the token challenge) once it is up.
  await waitReady(server, timeoutMs, "wrangler dev", authMode === "open" ? 200 : 401);
  return server;
}

async function waitReady(server, timeoutMs, what, readyStatus = 200) {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (server.exited) {
      throw new Error(`${what} exited before it was ready (${server.exitInfo})\n${tailFile(server.logPath)}`);
    }
    last = await probe(`${server.url}/v2/`);
    if (last === readyStatus) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  await server.stop();
  throw new Error(`${what} did not answer ${readyStatus} on ${server.url}/v2/ within ${timeoutMs} ms (last status ${last || "no connection"})\n${tailFile(server.logPath)}`);
}

/** Start docker-registry (distribution) on 127.0.0.1 over TLS with a self-signed cert: a reference target. */
export async function startDistribution({ workDir, port } = {}) {
  port ??= await freePort();
  const cert = join(workDir, "cert.pem");
  const key = join(workDir, "key.pem");
  const r = await runQuiet("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ]);
  if (r !== 0) throw new Error("openssl failed to make a certificate");
  const config = join(workDir, "registry.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(workDir, "storage")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  tls:",
      `    certificate: ${cert}`,
      `    key: ${key}`,
      "",
    ].join("\n"),
  );
  const logPath = join(workDir, "registry.log");
  const fd = openSync(logPath, "a");
  const child = spawn("docker-registry", ["serve", config], { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const server = {
    url: `https://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    pid: child.pid,
    logPath,
    exited: false,
    stop: () => killGroup(child.pid),
  };
  child.on("exit", (code, sig) => {
    server.exited = true;
    server.exitInfo = `exit code ${code} signal ${sig}`;
  });
  await waitReady(server, 30_000, "docker-registry");
  return server;
}

/**
 * The upstreams Berth is configured with in the e2e run, all on the peers of
 * test/upstream/peers/start.mjs (names are repository path components: lowercase, no port):
 *   open.test    the open registry's front, tags trusted for an hour
 *   fresh.test   the same front, tagTtlSeconds 0: every tag pull revalidates with a HEAD
 *   faults.test  the same front, tagTtlSeconds 0 and a 2 s timeout, for the fault tests
 *   stats.test   the same front, used only by the /api/v1/upstreams test (exact figures)
 *   docker.io    the same front under Docker Hub's name: one-segment names get library/;
 *                DEFAULT_UPSTREAM, so mirror mode (MIRROR_MODE=true) reads through it
 *   basic.test   the htpasswd registry's front, credentials from BASIC_USER / BASIC_PASS
 *   token.test   the token-auth registry's front, credentials from TOKEN_USER / TOKEN_PASS
 *   anon.test    the token-auth registry's front, anonymous (the token server grants public/*)
 *   down.test    a loopback port where nothing listens
 * Returns wrangler dev arguments (`--var NAME:value` pairs, secrets included).
 */
export function upstreamVars(peers, { mirrorMode = false } = {}) {
  const common = { allowPrivateAddresses: true };
  const upstreams = [
    { name: "open.test", url: peers.open, tagTtlSeconds: 3600, ...common },
    { name: "fresh.test", url: peers.open, tagTtlSeconds: 0, ...common },
    { name: "faults.test", url: peers.open, tagTtlSeconds: 0, timeoutSeconds: 2, ...common },
    { name: "stats.test", url: peers.open, tagTtlSeconds: 3600, ...common },
    { name: "docker.io", url: peers.open, aliases: ["index.docker.io"], tagTtlSeconds: 3600, ...common },
    { name: "basic.test", url: peers.basic, usernameSecret: "BASIC_USER", passwordSecret: "BASIC_PASS", ...common },
    { name: "token.test", url: peers.token, usernameSecret: "TOKEN_USER", passwordSecret: "TOKEN_PASS", ...common },
    { name: "anon.test", url: peers.token, ...common },
    { name: "down.test", url: peers.refused, timeoutSeconds: 2, ...common },
  ];
  const vars = {
    UPSTREAMS: JSON.stringify(upstreams),
    DEFAULT_UPSTREAM: "docker.io",
    MIRROR_MODE: mirrorMode ? "true" : "false",
    BASIC_USER: peers.credentials.username,
    BASIC_PASS: peers.credentials.password,
    TOKEN_USER: peers.credentials.username,
    TOKEN_PASS: peers.credentials.password,
  };
  return Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
}

function runQuiet(cmd, a) {
  return new Promise((res) => {
    const c = spawn(cmd, a, { stdio: "ignore" });
    c.on("error", () => res(127));
    c.on("exit", (code) => res(code ?? 1));
  });
}

function testFiles() {
  if (files.length) return files;
  const dir = join(ROOT, "test", "e2e");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".test.mjs"))
    .sort()
    .map((f) => join("test", "e2e", f));
}

async function main() {
  const workDir = mkdtempSync(join(process.env.BERTH_E2E_TMP || tmpdir(), "berth-e2e-run-"));
  let server = null;
  let upstream = null;
  let stopping = false;
  const cleanup = async () => {
    if (server) await server.stop();
    if (upstream) await upstream.stop();
    if (!keep) rmSync(workDir, { recursive: true, force: true });
    else log(`kept ${workDir}`);
  };
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: stopping`);
      await cleanup();
      process.exit(130);
    });
  }

  let url;
  let host;
  try {
    if (target === "wrangler") {
      let extraArgs = [];
      if (process.env.BERTH_E2E_UPSTREAMS !== "0") {
        const t0 = Date.now();
        const peersDir = join(workDir, "peers");
        mkdirSync(peersDir);
        upstream = await startUpstreamPeers({ dir: peersDir });
        extraArgs = upstreamVars(upstream.peers);
        log(`upstream peers ready in ${Date.now() - t0} ms (open front ${upstream.peers.open})`);
      }
      log("starting wrangler dev (https)…");
      const t0 = Date.now();
      server = await startWrangler({ workDir, extraArgs });
      log(`wrangler dev ready on ${server.url} (pid ${server.pid}) in ${Date.now() - t0} ms`);
    } else if (target === "distribution") {
      log("starting docker-registry (reference target)…");
      server = await startDistribution({ workDir });
      log(`docker-registry ready on ${server.url} (pid ${server.pid})`);
    } else if (target === "external") {
      if (!process.env.BERTH_URL) throw new Error("--target=external needs BERTH_URL");
    } else {
      throw new Error(`unknown --target=${target}`);
    }
    url = server ? server.url : process.env.BERTH_URL.replace(/\/+$/, "");
    host = server ? server.host : process.env.BERTH_HOST || new URL(url).host;
  } catch (e) {
    log(String(e.stack || e));
    await cleanup();
    return 1;
  }

  const testTmp = join(workDir, "tmp");
  const list = testFiles();
  log(`running ${list.length} test files against ${url}`);
  const code = await new Promise((res) => {
    const child = spawn(
      process.execPath,
      ["--test", "--test-concurrency=1", "--test-reporter=spec", ...list],
      {
        cwd: ROOT,
        stdio: "inherit",
        env: {
          ...process.env,
          BERTH_URL: url,
          BERTH_HOST: host,
          BERTH_E2E_TARGET: target,
          BERTH_E2E_TMP: testTmp,
          ...(upstream
            ? { BERTH_UPSTREAM_PEERS: JSON.stringify(upstream.peers), BERTH_UPSTREAM_LOG_URL: `${upstream.peers.open}/__log` }
            : {}),
          NODE_TLS_REJECT_UNAUTHORIZED: "0",
          NODE_NO_WARNINGS: "1",
        },
      },
    );
    // a hung test must not hang CI: stop the whole run after BERTH_E2E_TIMEOUT_MS
    const limit = Number(process.env.BERTH_E2E_TIMEOUT_MS || 45 * 60 * 1000);
    const watchdog = setTimeout(() => {
      log(`ERROR: the tests did not finish within ${limit} ms; stopping them`);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, limit);
    child.on("exit", (c, sig) => {
      clearTimeout(watchdog);
      res(c ?? 1);
    });
    child.on("error", (e) => {
      clearTimeout(watchdog);
      log(`cannot start node --test: ${e.message}`);
      res(1);
    });
  });

  if (code !== 0 && server) {
    // keep the whole server log (the work dir is removed) and show its interesting lines
    const saved = join(process.env.BERTH_E2E_TMP || tmpdir(), `berth-e2e-${target}-${Date.now()}.log`);
    try {
      copyFileSync(server.logPath, saved);
    } catch {
      // ignore
    }
    const text = readFileSyncSafe(server.logPath);
    const notable = text
      .split("\n")
      .filter((l) => /error|exception|uncaught|restart|reload|\b5\d\d\b|exceeded|memory/i.test(l))
      .slice(-40)
      .join("\n");
    log(`tests failed (exit ${code}); full server log saved to ${saved}`);
    if (notable) console.error(`[e2e] notable server log lines:\n${notable}`);
    console.error(`[e2e] last lines of the server log:\n${tailFile(server.logPath, 25)}`);
  }
  if (target === "wrangler" && server) {
    // wrangler dev watches src/: an edit during the run restarts the Worker, and requests in
    // flight then fail with 503 "Your worker restarted mid-request".
    const reloads = (readFileSyncSafe(server.logPath).match(/Reloading local server|Detected changes|Build failed/gi) ?? []).length;
    if (reloads) log(`WARNING: wrangler rebuilt/reloaded the Worker during the run (${reloads}×: files under src/ changed); failures may come from that`);
  }
  await cleanup();
  log(`done: exit ${code}`);
  return code;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
