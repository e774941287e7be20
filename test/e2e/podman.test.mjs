// podman pull / push against Berth (root, vfs storage, everything under temp dirs).
// podman compresses layers on push: the PATCH bodies have no Content-Length.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  requireTarget, makeTempDir, buildTestImages, skopeo, dockerRef, uniqueRepo, run, containersEnv,
  readLayout, readBlob, blobPath, sha256Gunzipped, sha256File, makeTar, sha256, startRecordingProxy,
} from "./harness.mjs";

let images;
let podmanArgs;
let podmanEnv;
const repo = uniqueRepo("podman");
const host = () => process.env.BERTH_HOST;

before(async () => {
  requireTarget();
  images = await buildTestImages(makeTempDir("berth-src-"));
  await skopeo(["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, dockerRef(repo, "app")]);
  await skopeo(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:multi`, dockerRef(repo, "multi")]);
  const c = await containersEnv();
  const base = makeTempDir("berth-podman-");
  const tmp = join(base, "tmp");
  await run("mkdir", ["-p", tmp]);
  podmanArgs = [
    "--root", join(base, "root"), "--runroot", makeTempDir("bp-", { short: true }), "--tmpdir", tmp,
    "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
  ];
  podmanEnv = { ...c.env, TMPDIR: tmp };
});

const podman = (args) => run("podman", [...podmanArgs, ...args], { env: podmanEnv, timeoutMs: 600_000 });
const imageInspect = async (ref) => JSON.parse((await podman(["image", "inspect", ref])).stdout)[0];

/** Pull `ref` from Berth with skopeo into an OCI layout; check each layer gunzips to its diff_id. */
async function verifyPushed(ref, { configDigest, diffIds }) {
  const out = makeTempDir("berth-pull-");
  await skopeo(["copy", "--src-tls-verify=false", dockerRef(repo, ref), `oci:${out}:x`]);
  const { refs } = await readLayout(out);
  const desc = refs.get("x");
  const manifest = JSON.parse((await readBlob(out, desc.digest)).toString("utf8"));
  if (configDigest) assert.equal(manifest.config.digest, configDigest, "config blob unchanged");
  const config = JSON.parse((await readBlob(out, manifest.config.digest)).toString("utf8"));
  assert.deepEqual(config.rootfs.diff_ids, diffIds);
  assert.equal(manifest.layers.length, diffIds.length);
  for (const [i, l] of manifest.layers.entries()) {
    const file = await sha256File(blobPath(out, l.digest));
    assert.equal(file.digest, l.digest, `layer ${i} bytes match their digest`);
    assert.equal(file.size, l.size, `layer ${i} size`);
    assert.match(l.mediaType, /gzip/, `layer ${i} is compressed`);
    const un = await sha256Gunzipped(blobPath(out, l.digest));
    assert.equal(un.digest, diffIds[i], `layer ${i} uncompresses to its diff_id`);
  }
  return { manifest, digest: desc.digest };
}

test("podman pull by tag", async () => {
  await podman(["pull", "--tls-verify=false", `${host()}/${repo}:app`]);
  const info = await imageInspect(`${host()}/${repo}:app`);
  assert.equal(info.Digest, images.app.digest, "manifest digest");
  assert.equal(`sha256:${info.Id}`, images.app.configDescriptor.digest, "image id = config digest");
  assert.deepEqual(info.RootFS.Layers, images.app.config.rootfs.diff_ids, "layers unpacked to the right diff_ids");
  assert.equal(info.Architecture, "amd64");
  assert.equal(info.Labels?.["org.berth.e2e"], "app");
});

test("podman pull --arch arm64 picks the arm64 image from the index", async () => {
  await podman(["pull", "--tls-verify=false", "--arch", "arm64", "--os", "linux", `${host()}/${repo}:multi`]);
  const info = await imageInspect(`${host()}/${repo}:multi`);
  const want = images.platforms.arm64;
  assert.equal(info.Architecture, "arm64");
  assert.equal(`sha256:${info.Id}`, want.configDescriptor.digest);
  assert.deepEqual(info.RootFS.Layers, want.config.rootfs.diff_ids);
  assert.equal(info.Labels?.["org.berth.e2e"], "multi-arm64");
});

test("podman pull by digest", async () => {
  await podman(["pull", "--tls-verify=false", `${host()}/${repo}@${images.platforms["arm-v7"].digest}`]);
  const info = await imageInspect(`${host()}/${repo}@${images.platforms["arm-v7"].digest}`);
  assert.equal(info.Digest, images.platforms["arm-v7"].digest);
  assert.equal(info.Labels?.["org.berth.e2e"], "multi-arm-v7");
});

test("podman push of a pulled image to another tag", async () => {
  await podman(["push", "--tls-verify=false", `${host()}/${repo}:app`, `docker://${host()}/${repo}:pushed-by-podman`]);
  await verifyPushed("pushed-by-podman", {
    configDigest: images.app.configDescriptor.digest,
    diffIds: images.app.config.rootfs.diff_ids,
  });
});

test("podman import + push uploads freshly compressed layers (chunked PATCH)", async () => {
  const dir = makeTempDir("berth-import-");
  const tar = makeTar([
    { path: "etc/imported", content: `imported ${randomBytes(8).toString("hex")}\n` },
    { path: "opt/blob.bin", content: randomBytes(3 * 1024 * 1024) },
  ]);
  const tarPath = join(dir, "rootfs.tar");
  await writeFile(tarPath, tar);
  const ref = `${host()}/${repo}:imported`;
  await podman(["import", "--change", "CMD=/bin/true", tarPath, ref]);
  const local = await imageInspect(ref);
  assert.deepEqual(local.RootFS.Layers, [sha256(tar)], "podman stored the tar as one layer");
  // push through a recording proxy to see what podman sends
  const proxy = await startRecordingProxy();
  try {
    await podman(["push", "--tls-verify=false", ref, `docker://${proxy.host}/${repo}:imported`]);
  } finally {
    await proxy.close();
  }
  const patches = proxy.requests.filter((r) => r.method === "PATCH");
  assert.ok(
    patches.some((r) => r.headers["content-length"] === undefined && /chunked/i.test(r.headers["transfer-encoding"] ?? "")),
    `podman sent no PATCH without Content-Length: ${JSON.stringify(patches.map((p) => [p.headers["content-length"], p.headers["transfer-encoding"]]))}`,
  );
  const { digest } = await verifyPushed("imported", { diffIds: [sha256(tar)] });

  // and podman pulls the pushed image back
  await podman(["rmi", "-f", ref]);
  await podman(["pull", "--tls-verify=false", ref]);
  const again = await imageInspect(ref);
  assert.equal(again.Digest, digest);
  assert.deepEqual(again.RootFS.Layers, [sha256(tar)]);
});
