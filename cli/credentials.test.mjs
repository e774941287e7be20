import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentialFiles, decodeAuthEntry, findCredentials, matchAuthEntry, normalizeAuthKey, parseCreds } from "./credentials.mjs";

const b64 = (s) => Buffer.from(s).toString("base64");

test("auth keys normalize the way docker and podman write them", () => {
  const table = [
    ["https://index.docker.io/v1/", "docker.io"],
    ["index.docker.io", "docker.io"],
    ["registry-1.docker.io", "docker.io"],
    ["https://ghcr.io", "ghcr.io"],
    ["http://127.0.0.1:5000/", "127.0.0.1:5000"],
    ["berth.example.com/team", "berth.example.com/team"],
  ];
  for (const [key, want] of table) assert.equal(normalizeAuthKey(key), want, key);
});

test("the most specific auths entry wins (podman's per-namespace keys)", () => {
  const auths = { "berth.io": { auth: b64("a:1") }, "berth.io/team": { auth: b64("b:2") }, "berth.io/teammate": { auth: b64("c:3") } };
  assert.equal(matchAuthEntry(auths, "berth.io", "team/app")[0], "berth.io/team");
  assert.equal(matchAuthEntry(auths, "berth.io", "other/app")[0], "berth.io");
  assert.equal(matchAuthEntry(auths, "other.io", "team/app"), undefined);
  assert.equal(matchAuthEntry({ "https://index.docker.io/v1/": {} }, "docker.io", "library/nginx")[0], "docker.io");
});

test("auth entries decode to a password or an identity token; --creds parses", () => {
  assert.deepEqual(decodeAuthEntry({ auth: b64("user:pa:ss") }), { username: "user", password: "pa:ss" });
  assert.deepEqual(decodeAuthEntry({ auth: b64("user:"), identitytoken: "tok" }), { username: "user", identityToken: "tok" });
  assert.equal(decodeAuthEntry({}), undefined);
  assert.equal(decodeAuthEntry({ auth: b64("nocolon") }), undefined);
  assert.deepEqual(parseCreds("u:p:q"), { username: "u", password: "p:q", from: "--creds" });
  assert.throws(() => parseCreds("nopassword"), { name: "UsageError" });
});

test("files are searched podman first, then docker; the first with an entry wins", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-creds-"));
  const env = { REGISTRY_AUTH_FILE: join(dir, "reg.json"), XDG_RUNTIME_DIR: join(dir, "run"), DOCKER_CONFIG: join(dir, "docker") };
  assert.deepEqual(credentialFiles({ env, home: "/h" }), [
    join(dir, "reg.json"),
    join(dir, "run", "containers", "auth.json"),
    "/h/.config/containers/auth.json",
    join(dir, "docker", "config.json"),
  ]);
  assert.deepEqual(credentialFiles({ authfile: "/x.json", env }), ["/x.json"]);
  writeFileSync(env.REGISTRY_AUTH_FILE, JSON.stringify({ auths: { "other.io": { auth: b64("o:o") } } }));
  mkdirSync(env.DOCKER_CONFIG);
  writeFileSync(join(env.DOCKER_CONFIG, "config.json"), JSON.stringify({ auths: { "https://berth.io": { auth: b64("d:pw") } } }));
  assert.deepEqual(findCredentials("berth.io", "team/app", { env, home: dir }), { username: "d", password: "pw", from: join(dir, "docker", "config.json") });
  assert.equal(findCredentials("none.io", "x", { env, home: dir }), undefined);
});
