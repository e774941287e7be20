// The docker CLI (client only, no daemon): `docker manifest inspect --insecure` against Berth
// over https with a self-signed certificate, for a single-arch image and a multi-arch index.
// Skipped — loudly — when the docker CLI is not installed.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, run, which, sha256,
} from "./harness.mjs";

const dockerBin = await which("docker");
const skip = dockerBin
  ? false
  : "docker CLI not found on PATH: the `docker manifest inspect` tests did NOT run (install a docker client to run them)";
if (skip) console.error(`\n*** SKIPPING docker CLI tests: ${skip} ***\n`);
if (skip && process.env.BERTH_REQUIRE_DOCKER === "1") {
  test("docker CLI is required (BERTH_REQUIRE_DOCKER=1)", () => assert.fail(skip));
}

let images;
let env;
const repo = uniqueRepo("docker-cli");

before(async () => {
  if (skip) return;
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, dockerRef(repo, "single")]);
  await skopeo(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:multi`, dockerRef(repo, "multi")]);
  env = { DOCKER_CONFIG: makeTempDir("berth-docker-config-"), DOCKER_CLI_EXPERIMENTAL: "enabled" };
});

const host = () => process.env.BERTH_HOST;

async function inspect(ref, verbose = false) {
  const r = await run("docker", ["manifest", "inspect", "--insecure", ...(verbose ? ["-v"] : []), `${host()}/${repo}:${ref}`], {
    env,
    timeoutMs: 120_000,
  });
  return JSON.parse(r.stdout);
}

test("docker manifest inspect of a single-arch image", { skip }, async () => {
  const m = await inspect("single");
  assert.equal(m.schemaVersion, 2);
  assert.equal(m.config.digest, images.app.configDescriptor.digest);
  assert.deepEqual(m.layers.map((l) => l.digest), images.app.manifest.layers.map((l) => l.digest));
  assert.deepEqual(m.layers.map((l) => l.size), images.app.manifest.layers.map((l) => l.size));

  const v = await inspect("single", true);
  assert.equal(v.Descriptor.digest, images.app.digest, "digest docker computed from the served bytes");
  assert.equal(v.Descriptor.size, images.app.manifestBytes.length);
  assert.equal(v.Descriptor.platform?.architecture, "amd64");
  assert.equal(v.Descriptor.platform?.os, "linux");
  const raw = Buffer.from(v.Raw, "base64");
  assert.equal(sha256(raw), images.app.digest, "raw bytes as served");
});

test("docker manifest inspect of the multi-arch index", { skip }, async () => {
  const idx = await inspect("multi");
  const want = images.multi.index.manifests;
  assert.equal(idx.manifests.length, 3);
  assert.deepEqual(
    idx.manifests.map((m) => ({ digest: m.digest, size: m.size, platform: m.platform })),
    want.map((m) => ({ digest: m.digest, size: m.size, platform: m.platform })),
  );

  const v = await inspect("multi", true);
  assert.ok(Array.isArray(v), "-v on an index lists every platform");
  assert.equal(v.length, 3);
  for (const [i, entry] of v.entries()) {
    assert.equal(entry.Descriptor.digest, want[i].digest);
    assert.deepEqual(entry.Descriptor.platform, want[i].platform);
    assert.equal(sha256(Buffer.from(entry.Raw, "base64")), want[i].digest, `raw bytes of ${want[i].platform.architecture}`);
  }
});

test("docker manifest inspect of a missing tag fails", { skip }, async () => {
  await assert.rejects(
    run("docker", ["manifest", "inspect", "--insecure", `${host()}/${repo}:does-not-exist`], { env, timeoutMs: 120_000 }),
    /no such manifest|manifest unknown|not found/i,
  );
});
