import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDestination, parseImageName, parseSource } from "./reference.mjs";

const D = "sha256:" + "a".repeat(64);

test("image names are read like docker reads them", () => {
  const table = [
    ["nginx", { host: "docker.io", apiHost: "registry-1.docker.io", repository: "library/nginx", tag: undefined, digest: undefined }],
    ["nginx:1.27", { host: "docker.io", apiHost: "registry-1.docker.io", repository: "library/nginx", tag: "1.27", digest: undefined }],
    ["index.docker.io/org/app", { host: "docker.io", apiHost: "registry-1.docker.io", repository: "org/app", tag: undefined, digest: undefined }],
    ["127.0.0.1:8787/team/app:v1", { host: "127.0.0.1:8787", apiHost: "127.0.0.1:8787", repository: "team/app", tag: "v1", digest: undefined }],
    ["localhost/app", { host: "localhost", apiHost: "localhost", repository: "app", tag: undefined, digest: undefined }],
    [`ghcr.io/org/app:v1@${D}`, { host: "ghcr.io", apiHost: "ghcr.io", repository: "org/app", tag: "v1", digest: D }],
    ["team/app", { host: "docker.io", apiHost: "registry-1.docker.io", repository: "team/app", tag: undefined, digest: undefined }],
  ];
  for (const [text, want] of table) assert.deepEqual(parseImageName(text), want, text);
});

test("bad names, tags and digests are usage errors", () => {
  for (const text of ["Host.io/UPPER", "host.io/app:bad tag", "host.io/app@sha256:nothex", "host.io/", "host.io/a//b"]) {
    assert.throws(() => parseImageName(text), { name: "UsageError" }, text);
  }
});

test("sources use skopeo's transports; the first colon ends a path", () => {
  assert.deepEqual(parseSource("oci:./layout:app"), { kind: "oci", dir: "./layout", ref: "app" });
  assert.deepEqual(parseSource("oci:/tmp/x"), { kind: "oci", dir: "/tmp/x", ref: undefined });
  assert.deepEqual(parseSource("oci-archive:img.tar:app"), { kind: "oci-archive", file: "img.tar", ref: "app" });
  assert.deepEqual(parseSource("docker-archive:img.tar"), { kind: "docker-archive", file: "img.tar", ref: undefined });
  assert.deepEqual(parseSource("docker-archive:img.tar:team/app:v1"), { kind: "docker-archive", file: "img.tar", ref: "team/app:v1" });
  assert.deepEqual(parseSource("docker-archive:img.tar:@1"), { kind: "docker-archive", file: "img.tar", index: 1 });
  assert.equal(parseSource("docker://ghcr.io/org/app:v1").image.repository, "org/app");
  for (const text of ["dir:/x", "containers-storage:x", "oci:", "oci-archive:", "docker-archive::x", "docker-archive:f:@x"]) {
    assert.throws(() => parseSource(text), { name: "UsageError" }, text);
  }
});

test("a destination without tag or digest means latest; docker:// is optional", () => {
  assert.equal(parseDestination("berth.example.com/team/app").tag, "latest");
  assert.equal(parseDestination("docker://berth.example.com/team/app:v2").tag, "v2");
  assert.deepEqual([parseDestination(`b.io/a@${D}`).tag, parseDestination(`b.io/a@${D}`).digest], [undefined, D]);
});
