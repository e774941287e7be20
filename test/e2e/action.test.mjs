// The GitHub Action (action.yml + action/pin.mjs) against the local Berth, the way a runner
// executes it: the composite step's `run` line under bash, inputs as INPUT_* variables, outputs
// appended to the file named by GITHUB_OUTPUT, a summary to GITHUB_STEP_SUMMARY.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { connect as tlsConnect } from "node:tls";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, tryRun, BERTH_URL, BERTH_HOST,
} from "./harness.mjs";
import { freePort } from "../../scripts/e2e.mjs";
import { parseOutputs, runLine } from "./github-action.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const target = process.env.BERTH_E2E_TARGET ?? "wrangler";
const skip = target === "distribution" && "the action needs Berth's JSON API (target is docker-registry)";
const repo = uniqueRepo("action");
let images;

before(async () => {
  if (skip) return;
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, dockerRef(repo, "app")]);
  await skopeo(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:multi`, dockerRef(repo, "multi")]);
});

/** Runs the action like a runner would; returns {code, stdout, stderr, outputs, summary}. */
async function runAction(inputs, { verifyTls = false } = {}) {
  const dir = makeTempDir("berth-action-");
  const outputFile = join(dir, "output");
  const summaryFile = join(dir, "summary.md");
  writeFileSync(outputFile, "");
  writeFileSync(summaryFile, "");
  const env = {
    GITHUB_ACTION_PATH: ROOT,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    BERTH_TIMEOUT_MS: "5000",
    INPUT_REGISTRY: "",
    INPUT_IMAGES: "",
    INPUT_PLATFORM: "",
    INPUT_TOKEN: "",
    INPUT_CA: "",
    INPUT_INSECURE: "",
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  // The runner trusts the local self-signed certificate for every test process; a real runner
  // does not, and the tests of the `ca` and `insecure` inputs must see that.
  if (verifyTls) env.NODE_TLS_REJECT_UNAUTHORIZED = "1";
  const r = await tryRun("bash", ["-c", runLine(join(ROOT, "action.yml"))], { cwd: makeTempDir("berth-action-cwd-"), env, timeoutMs: 60_000 });
  return { ...r, outputs: parseOutputs(readFileSync(outputFile, "utf8")), summary: readFileSync(summaryFile, "utf8") };
}

const ref = (tag) => `${BERTH_HOST}/${repo}:${tag}`;

test("action.yml declares the inputs and outputs the script uses", { skip }, () => {
  const yml = readFileSync(join(ROOT, "action.yml"), "utf8");
  assert.match(yml, /using:\s*"?composite"?/);
  for (const name of ["registry", "images", "platform", "token", "ca", "insecure"]) {
    assert.match(yml, new RegExp(`^  ${name}:`, "m"), `input ${name}`);
    assert.match(yml, new RegExp(`INPUT_${name.toUpperCase()}: \\$\\{\\{ inputs\\.${name} \\}\\}`), `input ${name} passed to the script`);
  }
  for (const name of ["map", "digests", "digest", "pinned"]) {
    assert.match(yml, new RegExp(`value: \\$\\{\\{ steps\\.pin\\.outputs\\.${name} \\}\\}`), `output ${name}`);
  }
});

test("pins several images: JSON maps of pinned references and digests", { skip }, async () => {
  const r = await runAction({
    registry: BERTH_URL,
    images: `# images to deploy\n${ref("app")}\n\n  ${ref("multi")}  \n${repo}:multi\n`,
  });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const map = JSON.parse(r.outputs.map);
  assert.deepEqual(map, {
    [ref("app")]: `${BERTH_HOST}/${repo}@${images.app.digest}`,
    [ref("multi")]: `${BERTH_HOST}/${repo}@${images.multi.digest}`,
    [`${repo}:multi`]: `${BERTH_HOST}/${repo}@${images.multi.digest}`,
  });
  assert.deepEqual(JSON.parse(r.outputs.digests), {
    [ref("app")]: images.app.digest,
    [ref("multi")]: images.multi.digest,
    [`${repo}:multi`]: images.multi.digest,
  });
  assert.equal(r.outputs.digest, undefined, "digest is only set for a single image");
  assert.equal(r.outputs.pinned, undefined);
  assert.match(r.stdout, new RegExp(`${ref("multi")} → ${BERTH_HOST}/${repo}@${images.multi.digest}`));
  assert.match(r.summary, /\| Image \| Pinned \| Platform \|/);
  assert.match(r.summary, /multi-arch index/);
});

test("a single image sets digest and pinned", { skip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: ref("app") });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.outputs.digest, images.app.digest);
  assert.equal(r.outputs.pinned, `${BERTH_HOST}/${repo}@${images.app.digest}`);
  assert.deepEqual(JSON.parse(r.outputs.map), { [ref("app")]: r.outputs.pinned });
});

test("with a platform, images are pinned to that platform's manifest", { skip }, async () => {
  const r = await runAction({ registry: `${BERTH_URL}/`, images: ref("multi"), platform: "linux/arm/v7" });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const arm = images.platforms["arm-v7"];
  assert.equal(r.outputs.digest, arm.digest);
  assert.equal(r.outputs.pinned, `${BERTH_HOST}/${repo}@${arm.digest}`);
  assert.match(r.summary, /for linux\/arm\/v7/);
});

test("a token is sent as a Bearer token (and does not disturb an open Berth)", { skip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: ref("app"), token: "not-a-real-token" });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.outputs.digest, images.app.digest);
});

test("an image that cannot be resolved fails the step with a readable message", { skip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: `${ref("app")}\n${ref("no-such-tag")}` });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`1 of 2 images could not be resolved by ${BERTH_URL.replace(/[.]/g, "\\.")}`));
  assert.match(r.stderr, new RegExp(`${ref("no-such-tag")}: MANIFEST_UNKNOWN: .*tag no-such-tag is unknown in repository ${repo} \\[HTTP 404\\]`));
  assert.match(r.stdout, /^::error title=Berth could not resolve .*no-such-tag::/m);
  // What could be resolved is still in the outputs.
  assert.deepEqual(Object.keys(JSON.parse(r.outputs.map)), [ref("app")]);
  assert.match(r.summary, /❌ MANIFEST_UNKNOWN/);
});

test("an unknown platform names the platforms on offer", { skip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: ref("multi"), platform: "linux/s390x" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /PLATFORM_UNKNOWN: .*no manifest for platform linux\/s390x; available: linux\/amd64, linux\/arm64, linux\/arm\/v7/);
  assert.equal(r.outputs.digest, undefined);
});

test("an invalid reference is reported as such", { skip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: "Not/A/Valid:Ref!" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Not\/A\/Valid:Ref!: REFERENCE_INVALID: invalid reference/);
});

test("unusable inputs and an unreachable registry fail with exit codes 2 and 1", { skip }, async () => {
  const noImages = await runAction({ registry: BERTH_URL, images: "\n# nothing\n" });
  assert.equal(noImages.code, 2);
  assert.match(noImages.stderr, /input `images` lists no image/);
  const noRegistry = await runAction({ registry: "", images: "nginx" });
  assert.equal(noRegistry.code, 2);
  assert.match(noRegistry.stderr, /input `registry` is empty/);
  const ftp = await runAction({ registry: "ftp://example.com", images: "nginx" });
  assert.equal(ftp.code, 2);
  assert.match(ftp.stderr, /must be an http\(s\) URL/);

  const port = await freePort();
  const down = await runAction({ registry: `https://127.0.0.1:${port}`, images: "team/app:v1" });
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`team/app:v1: cannot reach https://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
});

test("a URL that is not Berth is reported clearly", { skip }, async () => {
  // Berth's own static site answers, but /v2-only registries or other servers would too: the
  // script must say it got no usable answer instead of failing on JSON.
  const r = await runAction({ registry: `${BERTH_URL}/not-berth`, images: ref("app") });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /app: (HTTP 404|.*is this Berth's URL\?)/);
});

const peers = process.env.BERTH_UPSTREAM_PEERS ? JSON.parse(process.env.BERTH_UPSTREAM_PEERS) : null;
test("Docker Hub names are pinned as docker.io/library/… (through the cache on the runner's upstream peers)", { skip: skip || (!peers && "no upstream peers (BERTH_UPSTREAM_PEERS unset)") }, async () => {
  // A one-segment name of this run only, pushed to the registry that plays Docker Hub.
  const name = `berthaction${randomBytes(4).toString("hex")}`;
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, `docker://${new URL(peers.direct.open).host}/library/${name}:1`]);
  const r = await runAction({ registry: BERTH_URL, images: `${name}:1` });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.outputs.pinned, `docker.io/library/${name}@${images.app.digest}`);
  assert.equal(r.outputs.digest, images.app.digest);
});

const tlsSkip = skip || (!BERTH_URL.startsWith("https:") && "the registry is not served over TLS");

/** The registry's certificate as PEM, read from a TLS handshake. */
function servedCertificate() {
  const { hostname, port } = new URL(BERTH_URL);
  return new Promise((res, rej) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate().raw;
      socket.end();
      res(`-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`);
    });
    socket.on("error", rej);
  });
}

test("a self-signed certificate fails at once with a hint at `ca` and `insecure` (no retries)", { skip: tlsSkip }, async () => {
  const t0 = Date.now();
  const r = await runAction({ registry: BERTH_URL, images: ref("app") }, { verifyTls: true });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE): its TLS certificate is not trusted/);
  assert.match(r.stderr, /`ca:`.*`insecure: true`/);
  // three attempts would sleep 1 s + 2 s between them
  assert.ok(Date.now() - t0 < 3000 + 2000, `took ${Date.now() - t0} ms: a certificate error was retried`);
});

test("insecure: true pins against a self-signed registry, with a warning", { skip: tlsSkip }, async () => {
  const r = await runAction({ registry: BERTH_URL, images: ref("app"), insecure: "true" }, { verifyTls: true });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.outputs.digest, images.app.digest);
  assert.match(r.stdout, /::warning title=Berth::insecure: true/);
});

test("ca: the registry's certificate makes TLS verify", { skip: tlsSkip }, async () => {
  const caFile = join(makeTempDir("berth-action-ca-"), "berth.pem");
  writeFileSync(caFile, await servedCertificate());
  const r = await runAction({ registry: BERTH_URL, images: ref("app"), ca: caFile }, { verifyTls: true });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.outputs.digest, images.app.digest);
});

test("unusable ca / insecure inputs fail with exit code 2", { skip }, async () => {
  const missing = await runAction({ registry: BERTH_URL, images: ref("app"), ca: "/nonexistent/ca.pem" });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /input `ca`: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  const notPem = join(makeTempDir("berth-action-ca-"), "not.pem");
  writeFileSync(notPem, "hello\n");
  const bad = await runAction({ registry: BERTH_URL, images: ref("app"), ca: notPem });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /holds no PEM certificate/);
  const both = await runAction({ registry: BERTH_URL, images: ref("app"), ca: notPem, insecure: "true" });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either `ca`.*or `insecure: true`/);
  const word = await runAction({ registry: BERTH_URL, images: ref("app"), insecure: "yes" });
  assert.equal(word.code, 2);
  assert.match(word.stderr, /input `insecure` must be true or false/);
});
