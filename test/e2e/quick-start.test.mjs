// The README's quick start, as a new user runs it: `npm start` on a port of our choosing
// (PORT=…), then real clients against it. Clients that try TLS first (skopeo, podman, the docker
// CLI) must get an answer at once — a plain-HTTP port makes each of their commands wait 10 s for
// a TLS handshake — while curl and browsers keep plain HTTP on the same port. Also: the cron
// trigger URL wrangler prints runs the retention policies, and Ctrl-C stops workerd too.
// Starts its own `npm start` (fresh --persist-to), independent of BERTH_URL.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { get as httpsGet, request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir, buildTestImages, skopeo, uniqueRepo, tryRun, which, randomChunks, randomDigest, sha256Stream, MANIFEST_ACCEPT } from "./harness.mjs";
import { freePort, groupAlive, killGroup } from "../../scripts/processes.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const target = process.env.BERTH_E2E_TARGET ?? "wrangler";
const skip = target !== "wrangler" && `the quick start is Berth's own \`npm start\` (target is ${target})`;

// the front's certificate is self-signed; one test below verifies it explicitly
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

/** Well under the 10 s TLS handshake timeout the clients wait on a plain-HTTP port. */
const NO_TLS_TIMEOUT_MS = 5000;

const retentionRepo = uniqueRepo("qs-retention");
const policies = [{ repositories: "e2e/qs-retention-*", keepTags: [{ pattern: "v*", keep: 1 }] }];
let port;
let host;
let server; // the `npm start` child
let wranglerPid;
let logPath;
let images;

function log() {
  try {
    return readFileSync(logPath, "utf8");
  } catch {
    return "";
  }
}

before(async () => {
  if (skip) return;
  port = await freePort();
  host = `127.0.0.1:${port}`;
  const dir = makeTempDir("berth-quick-start-");
  logPath = join(dir, "npm-start.log");
  const fd = openSync(logPath, "a");
  server = spawn("npm", ["start", "--", "--persist-to", join(dir, "state"), "--var", `RETENTION_POLICIES:${JSON.stringify(policies)}`], {
    cwd: ROOT,
    detached: true, // a process group, like a terminal's foreground job: Ctrl-C is SIGINT to it
    stdio: ["ignore", fd, fd],
    env: { ...process.env, PORT: String(port), WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  closeSync(fd);
  const deadline = Date.now() + 120_000;
  while (!log().includes("Berth is ready on")) {
    if (server.exitCode !== null) throw new Error(`npm start exited (${server.exitCode}):\n${log()}`);
    if (Date.now() > deadline) throw new Error(`npm start was not ready within 120 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  wranglerPid = Number(/wrangler dev \(pid (\d+)\)/.exec(log())?.[1]);
  images = await buildTestImages(makeTempDir("berth-qs-src-"));
});

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) await killGroup(server.pid);
  if (wranglerPid) await killGroup(wranglerPid);
});

test("npm start announces the port from PORT, for http and https", { skip }, () => {
  assert.match(log(), new RegExp(`Berth is ready on 127\\.0\\.0\\.1:${port}`));
  assert.match(log(), new RegExp(`Ready on http://127\\.0\\.0\\.1:${port}\\b`), "wrangler's own line names the public port");
  assert.ok(wranglerPid > 0, "the wrangler pid is printed");
});

test("plain HTTP: /v2/ and the UI answer (curl, browsers)", { skip }, async () => {
  const ping = await fetch(`http://${host}/v2/`);
  assert.equal(ping.status, 200);
  assert.equal(ping.headers.get("docker-distribution-api-version"), "registry/2.0");
  const ui = await fetch(`http://${host}/`);
  assert.equal(ui.status, 200);
  assert.match(ui.headers.get("content-type") ?? "", /text\/html/);
  const r = await tryRun("curl", ["-fsS", "-o", "/dev/null", "-w", "%{http_code}", `http://${host}/v2/`], { timeoutMs: NO_TLS_TIMEOUT_MS });
  assert.equal(r.stdout, "200", r.stderr);
});

test("TLS on the same port with the certificate kept in .wrangler/tls (verifies with it as CA)", { skip }, async () => {
  const ca = readFileSync(join(ROOT, ".wrangler", "tls", "cert.pem"));
  const status = await new Promise((res, rej) => {
    httpsGet({ host: "127.0.0.1", port, path: "/v2/", ca, rejectUnauthorized: true }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode));
    }).on("error", rej);
  });
  assert.equal(status, 200);
});

test("skopeo copy and list-tags answer at once (no wait for a TLS timeout)", { skip }, async () => {
  const repo = uniqueRepo("quick-start");
  const t0 = Date.now();
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, `docker://${host}/${repo}:v1`], { timeoutMs: 120_000 });
  const copyMs = Date.now() - t0;
  const t1 = Date.now();
  const r = await skopeo(["list-tags", "--tls-verify=false", `docker://${host}/${repo}`], { timeoutMs: 60_000 });
  const listMs = Date.now() - t1;
  assert.deepEqual(JSON.parse(r.stdout).Tags, ["v1"]);
  assert.ok(listMs < NO_TLS_TIMEOUT_MS, `skopeo list-tags took ${listMs} ms: it waited for a TLS handshake (10 s timeout)`);
  assert.ok(copyMs < 60_000, `skopeo copy took ${copyMs} ms`);
});

const dockerBin = await which("docker");
test("docker manifest inspect --insecure answers at once", { skip: skip || (!dockerBin && "docker CLI not on PATH") }, async () => {
  const repo = uniqueRepo("quick-start-docker");
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, `docker://${host}/${repo}:v1`], { timeoutMs: 120_000 });
  const t0 = Date.now();
  const r = await tryRun("docker", ["manifest", "inspect", "--insecure", `${host}/${repo}:v1`], {
    env: { DOCKER_CONFIG: makeTempDir("berth-qs-docker-") },
    timeoutMs: 60_000,
  });
  const ms = Date.now() - t0;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).layers.length, 3);
  assert.ok(ms < NO_TLS_TIMEOUT_MS, `docker manifest inspect took ${ms} ms`);
});

/** PUT `size` pseudo-random bytes with node:http(s), chunked or with Content-Length. */
function putBlob(url, seed, size, { chunked }) {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((res, rej) => {
    const req = send(url, { method: "PUT", headers: chunked ? { "Transfer-Encoding": "chunked" } : { "Content-Length": String(size) } }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode));
    });
    req.on("error", rej);
    Readable.from(randomChunks(seed, size)).pipe(req);
  });
}

// A blob of 64 MiB with its length declared and 2 MiB of undeclared length (chunked, as skopeo
// and podman push), each way, over both protocols: the front streams, it does not buffer.
for (const scheme of ["http", "https"]) {
  test(`blobs stream through the front both ways (${scheme})`, { skip }, async () => {
    const repo = uniqueRepo("quick-start-blob");
    for (const [size, chunked] of [[64 * 1024 * 1024, false], [2 * 1024 * 1024, true]]) {
      const seed = `qs-${scheme}-${size}-${repo}`;
      const { digest } = await randomDigest(seed, size);
      const start = await fetch(`${scheme}://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
      assert.equal(start.status, 202);
      const location = new URL(start.headers.get("location"), `${scheme}://${host}`);
      location.searchParams.set("digest", digest);
      assert.equal(await putBlob(location, seed, size, { chunked }), 201);
      const got = await fetch(`${scheme}://${host}/v2/${repo}/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get("content-length"), String(size));
      assert.equal((await sha256Stream(got.body)).digest, digest);
    }
  });
}

test("the cron trigger URL wrangler prints runs the retention policies", { skip }, async () => {
  await skopeo(["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, `docker://${host}/${retentionRepo}:v1`], { timeoutMs: 120_000 });
  const manifest = await fetch(`http://${host}/v2/${retentionRepo}/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  const bytes = Buffer.from(await manifest.arrayBuffer());
  for (const tag of ["v2", "v3"]) {
    await new Promise((r) => setTimeout(r, 20)); // distinct move times
    const put = await fetch(`http://${host}/v2/${retentionRepo}/manifests/${tag}`, {
      method: "PUT",
      headers: { "Content-Type": manifest.headers.get("content-type") },
      body: bytes,
    });
    assert.equal(put.status, 201);
  }
  const before = await (await fetch(`http://${host}/v2/${retentionRepo}/tags/list`)).json();
  assert.deepEqual(before.tags.sort(), ["v1", "v2", "v3"]);

  assert.match(log(), new RegExp(`curl http://127\\.0\\.0\\.1:${port}/cdn-cgi/handler/scheduled`), "npm start shows the URL");
  const r = await tryRun("curl", ["-sS", "-w", "\n%{http_code}", `http://${host}/cdn-cgi/handler/scheduled`], { timeoutMs: 60_000 });
  assert.equal(r.stdout.split("\n").at(-1), "200", r.stdout + r.stderr);

  const after = await (await fetch(`http://${host}/v2/${retentionRepo}/tags/list`)).json();
  assert.deepEqual(after.tags, ["v3"], "keep 1 tag matching v*: the newest");
});

test("Ctrl-C (SIGINT to the foreground job) stops the front, wrangler and workerd", { skip }, async () => {
  process.kill(-server.pid, "SIGINT");
  const deadline = Date.now() + 20_000;
  const exited = () => server.exitCode !== null || server.signalCode !== null; // npm re-raises SIGINT
  while ((!exited() || groupAlive(wranglerPid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(exited(), "npm start exited");
  assert.equal(groupAlive(wranglerPid), false, "wrangler's process group (workerd included) is gone");
  await assert.rejects(fetch(`http://${host}/v2/`), "the port is closed");
});
