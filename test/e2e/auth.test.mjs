// Access control with real clients against a wrangler dev of its own with AUTH_MODE=required:
// skopeo login → copy push/pull; podman login → push/pull; `docker manifest inspect` with
// credentials in a DOCKER_CONFIG folder; anonymous pull of a repository ANONYMOUS_PULL opens;
// a read-only robot token refused a push (403 DENIED with the push challenge); a revoked token
// rejected; a GitHub Actions OIDC ID token from a local issuer (test/oidc/local-issuer.mjs) used
// as the password, and refused with a wrong audience. Runs only with --target=wrangler (it
// starts its own Berth).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTestImages, containersEnv, makeTempDir, readLayout, run, skopeo, tryRun, which } from "./harness.mjs";
import { startWrangler } from "../../scripts/e2e.mjs";
import { REQUEST_TOKEN, berthOidcVars, startLocalIssuer } from "../oidc/local-issuer.mjs";

const skip = process.env.BERTH_E2E_TARGET !== "wrangler" && "needs to start its own wrangler dev";
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const SIGNING_KEY = randomBytes(48).toString("base64");

function passwordHash(password) {
  const salt = randomBytes(16);
  return `pbkdf2-sha256$100000$${salt.toString("base64")}$${pbkdf2Sync(password, salt, 100_000, 32, "sha256").toString("base64")}`;
}

let berth;
let images;
let oidc;
let issuer;
const authDir = () => makeTempDir("berth-auth-");

before(async () => {
  if (skip) return console.error(`\n*** SKIPPING access control e2e: ${skip} ***\n`);
  const users = [
    { name: "alice", passwordHash: passwordHash(PASSWORD), grants: [{ repositories: "team/**", actions: ["pull", "push", "delete"] }] },
    { name: "root", passwordHash: passwordHash(PASSWORD), grants: [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }] },
  ];
  oidc = await startLocalIssuer();
  issuer = oidc.issuer("berth-auth-e2e");
  const vars = {
    TOKEN_SIGNING_KEY: SIGNING_KEY,
    AUTH_USERS: JSON.stringify(users),
    ANONYMOUS_PULL: JSON.stringify(["public/**"]),
    ...berthOidcVars({ issuer, audience: "https://berth.e2e" }),
  };
  berth = await startWrangler({
    workDir: makeTempDir("berth-auth-server-"),
    authMode: "required",
    extraArgs: Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  });
  images = await buildTestImages(makeTempDir("berth-auth-src-"));
});

after(async () => {
  await berth?.stop();
  await oidc?.stop();
});

const ref = (path) => `docker://${berth.host}/${path}`;
const basicAuth = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const fetchBerth = (path, init = {}) => fetch(new URL(path, berth.url), { redirect: "manual", ...init });

async function pullDigest(path, extra) {
  const out = makeTempDir("berth-auth-pull-");
  await skopeo(["copy", "--src-tls-verify=false", ...extra, ref(path), `oci:${out}:x`]);
  return (await readLayout(out)).refs.get("x").digest;
}

test("without credentials: /v2/ answers 401 with the token challenge; pushes are refused", { skip }, async () => {
  const ping = await fetchBerth("/v2/");
  assert.equal(ping.status, 401);
  assert.match(ping.headers.get("www-authenticate"), new RegExp(`^Bearer realm="https://${berth.host}/token",service="${berth.host}"`));
  const upload = await fetchBerth("/v2/team/app/blobs/uploads/", { method: "POST" });
  assert.equal(upload.status, 401);
  assert.match(upload.headers.get("www-authenticate"), /scope="repository:team\/app:pull,push"/);
  const copy = await skopeo(["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, ref("team/anon:v1")], { allowFail: true });
  assert.notEqual(copy.code, 0);
  assert.match(copy.stderr, /unauthorized|authentication required/i);
});

test("skopeo login, then copy push and pull through the token endpoint", { skip }, async () => {
  const authfile = join(authDir(), "auth.json");
  const bad = await skopeo(["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", "wrong", berth.host], { allowFail: true });
  assert.notEqual(bad.code, 0, "a wrong password is refused");
  await skopeo(["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", PASSWORD, berth.host]);
  await skopeo(["copy", "--dest-tls-verify=false", "--authfile", authfile, `oci:${images.dir}:app`, ref("team/skopeo:v1")]);
  assert.equal(await pullDigest("team/skopeo:v1", ["--authfile", authfile]), images.app.descriptor.digest);
  // alice has no grant outside team/**: the push is refused
  const outside = await skopeo(["copy", "--dest-tls-verify=false", "--authfile", authfile, `oci:${images.dir}:app`, ref("other/skopeo:v1")], { allowFail: true });
  assert.notEqual(outside.code, 0);
  assert.match(outside.stderr, /denied|403 \(Forbidden\)/i, "refused as forbidden, not as 'log in'");
  // the history names alice
  const history = await fetchBerth("/api/v1/repositories/team/skopeo/history", { headers: { Authorization: basicAuth("alice", PASSWORD) } });
  assert.equal(history.status, 200);
  assert.equal((await history.json()).history[0].actor, "alice");
});

test("podman login, then push and pull", { skip }, async () => {
  const c = await containersEnv();
  const base = makeTempDir("berth-auth-podman-");
  const tmp = join(base, "tmp");
  mkdirSync(tmp, { recursive: true });
  const authfile = join(base, "auth.json");
  const podmanArgs = ["--root", join(base, "root"), "--runroot", makeTempDir("bpa-", { short: true }), "--tmpdir", tmp, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"];
  const podman = (args) => run("podman", [...podmanArgs, ...args], { env: { ...c.env, TMPDIR: tmp, REGISTRY_AUTH_FILE: authfile }, timeoutMs: 600_000 });
  await podman(["login", "--tls-verify=false", "-u", "alice", "-p", PASSWORD, berth.host]);
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `alice:${PASSWORD}`, `oci:${images.dir}:tool`, ref("team/podman-src:v1")]);
  await podman(["pull", "--tls-verify=false", `${berth.host}/team/podman-src:v1`]);
  const local = JSON.parse((await podman(["image", "inspect", `${berth.host}/team/podman-src:v1`])).stdout)[0].Id;
  await podman(["push", "--tls-verify=false", `${berth.host}/team/podman-src:v1`, `${berth.host}/team/podman:v1`]);
  await podman(["rmi", "-a", "-f"]);
  await podman(["pull", "--tls-verify=false", `${berth.host}/team/podman:v1`]);
  const pulled = JSON.parse((await podman(["image", "inspect", `${berth.host}/team/podman:v1`])).stdout)[0];
  assert.equal(pulled.Id, local, "the same image came back");
  await podman(["logout", berth.host]);
  const anonymous = await tryRun("podman", [...podmanArgs, "pull", "--tls-verify=false", `${berth.host}/team/podman:v1`], { env: { ...c.env, TMPDIR: tmp, REGISTRY_AUTH_FILE: authfile }, timeoutMs: 120_000 });
  assert.notEqual(anonymous.code, 0, "logged out: refused");
});

test("docker manifest inspect with credentials in DOCKER_CONFIG", { skip: skip || (!(await which("docker")) && "docker CLI not installed") }, async () => {
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `alice:${PASSWORD}`, `oci:${images.dir}:app`, ref("team/docker:v1")]);
  const dockerConfig = authDir();
  const inspect = (env) => tryRun("docker", ["manifest", "inspect", "--insecure", `${berth.host}/team/docker:v1`], { env: { DOCKER_CONFIG: env, DOCKER_CLI_EXPERIMENTAL: "enabled" }, timeoutMs: 120_000 });
  const without = await inspect(makeTempDir("berth-auth-noconfig-"));
  assert.notEqual(without.code, 0, "no credentials: refused");
  writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ auths: { [berth.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString("base64") } } }));
  const withCreds = await inspect(dockerConfig);
  assert.equal(withCreds.code, 0, withCreds.stderr);
  assert.equal(JSON.parse(withCreds.stdout).config.digest, images.app.configDescriptor.digest);
});

test("anonymous pull of a repository ANONYMOUS_PULL opens; not of others", { skip }, async () => {
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `root:${PASSWORD}`, `oci:${images.dir}:tool`, ref("public/tool:v1")]);
  assert.equal(await pullDigest("public/tool:v1", []), images.tool.descriptor.digest);
  const refused = await skopeo(["copy", "--src-tls-verify=false", ref("team/skopeo:v1"), `oci:${makeTempDir("berth-auth-x-")}:x`], { allowFail: true });
  assert.notEqual(refused.code, 0);
});

test("a read-only robot token pulls, is denied a push (403 DENIED with the push challenge), and stops working once revoked", { skip }, async () => {
  const created = await fetchBerth("/api/v1/admin/tokens", {
    method: "POST",
    headers: { Authorization: basicAuth("root", PASSWORD), "Content-Type": "application/json" },
    body: JSON.stringify({ name: "ci-read", grants: [{ repositories: "team/**", actions: ["pull"] }], expiresIn: "1h" }),
  });
  assert.equal(created.status, 201);
  const robot = await created.json();
  const creds = ["--src-creds", `robot:${robot.token}`];
  assert.equal(await pullDigest("team/skopeo:v1", creds), images.app.descriptor.digest);

  const push = await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `robot:${robot.token}`, `oci:${images.dir}:tool`, ref("team/robot:v1")], { allowFail: true });
  assert.notEqual(push.code, 0);
  assert.match(push.stderr, /denied/i);
  // the same, by hand: a token for pull,push carries pull only; the upload answers 403 DENIED
  const tokenResponse = await fetchBerth(`/token?service=${berth.host}&scope=repository:team/robot:pull,push`, { headers: { Authorization: basicAuth("robot", robot.token) } });
  const { token } = await tokenResponse.json();
  const upload = await fetchBerth("/v2/team/robot/blobs/uploads/", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  assert.equal(upload.status, 403);
  assert.equal((await upload.json()).errors[0].code, "DENIED");
  assert.match(upload.headers.get("www-authenticate"), /scope="repository:team\/robot:pull,push",error="insufficient_scope"/);

  const revoked = await fetchBerth(`/api/v1/admin/tokens/${robot.id}`, { method: "DELETE", headers: { Authorization: basicAuth("root", PASSWORD) } });
  assert.equal(revoked.status, 204);
  await new Promise((resolve) => setTimeout(resolve, 5_500));
  const after = await skopeo(["copy", "--src-tls-verify=false", ...creds, ref("team/skopeo:v1"), `oci:${makeTempDir("berth-auth-y-")}:x`], { allowFail: true });
  assert.notEqual(after.code, 0, "the revoked token no longer pulls");
  const tokenAfter = await fetchBerth("/v2/team/skopeo/tags/list", { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(tokenAfter.status, 401, "tokens issued from it stop working too");
});

test("a GitHub Actions OIDC ID token as the password: the trusted repository pushes and pulls; a wrong audience is refused", { skip }, async () => {
  const idToken = async (audience) => {
    const response = await fetch(`${issuer}/actions-token?audience=${encodeURIComponent(audience)}`, { headers: { Authorization: `Bearer ${REQUEST_TOKEN}` } });
    return (await response.json()).value;
  };
  const good = await idToken("https://berth.e2e");
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `github-actions:${good}`, `oci:${images.dir}:tool`, ref("berth-test/app/oidc:v1")]);
  assert.equal(await pullDigest("berth-test/app/oidc:v1", ["--src-creds", `github-actions:${good}`]), images.tool.descriptor.digest);
  const history = await fetchBerth("/api/v1/repositories/berth-test/app/oidc/history", { headers: { Authorization: basicAuth("root", PASSWORD) } });
  assert.equal((await history.json()).history[0].actor, "github:berth-test/app@refs/heads/main");
  // outside the trust rule's grants
  const outside = await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `github-actions:${good}`, `oci:${images.dir}:tool`, ref("team/oidc:v1")], { allowFail: true });
  assert.notEqual(outside.code, 0);
  const wrongAudience = await fetchBerth(`/token?service=${berth.host}&scope=repository:berth-test/app:pull`, { headers: { Authorization: basicAuth("github-actions", await idToken("https://elsewhere")) } });
  assert.equal(wrongAudience.status, 401);
});

test("the UI: anonymous callers see only what ANONYMOUS_PULL opens; signing in shows the user's repositories and their pages", { skip }, async () => {
  const { chromium } = await import("playwright-core");
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `alice:${PASSWORD}`, `oci:${images.dir}:app`, ref("team/ui:v1")]);
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `root:${PASSWORD}`, `oci:${images.dir}:tool`, ref("private/ui:v1")]);
  const browser = await chromium.launch({ executablePath: process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  try {
    const page = await browser.newPage({ ignoreHTTPSErrors: true });
    await page.goto(`${berth.url}/`);
    await page.getByRole("link", { name: "public/tool", exact: true }).waitFor();
    assert.equal(await page.getByRole("link", { name: "team/ui", exact: true }).count(), 0, "anonymous: no private repository listed");

    await page.locator("#account").getByRole("button", { name: "Sign in", expanded: false }).click();
    await page.getByLabel("User").fill("alice");
    await page.getByLabel("Password or token").fill(`${PASSWORD}-wrong`);
    await page.locator("form.signin").getByRole("button", { name: "Sign in" }).click();
    await page.locator("form.signin [role=status]").filter({ hasText: /./ }).waitFor();
    await page.getByLabel("Password or token").fill(PASSWORD);
    await page.locator("form.signin").getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Signed in as").waitFor();
    await page.getByRole("link", { name: "team/ui", exact: true }).click();
    await page.locator('tr[data-tag="v1"]').waitFor();
    assert.equal(await page.locator('tr[data-tag="v1"] code.digest').textContent(), images.app.descriptor.digest);
    const stored = await page.evaluate(() => sessionStorage.getItem("berth.session"));
    assert.ok(!stored.includes(PASSWORD), "the password is not kept");

    await page.goto(`${berth.url}/#/repo/private/ui`);
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").textContent(), /denied|not|insufficient|access/i);

    await page.goto(`${berth.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "public/tool", exact: true }).waitFor();
    assert.equal(await page.getByRole("link", { name: "team/ui", exact: true }).count(), 0);
  } finally {
    await browser.close();
  }
});
