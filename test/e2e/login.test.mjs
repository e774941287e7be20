// The login action (login/action.yml + action/login.mjs) run the way a runner runs it: the
// composite step's `run` line under bash, inputs as INPUT_* variables, outputs in GITHUB_OUTPUT.
// GitHub's side is the local issuer of test/oidc/local-issuer.mjs (ACTIONS_ID_TOKEN_REQUEST_URL
// answers with RS256 ID tokens it signs; its JWKS is on loopback).
//
// Registry side, by default: a real docker-registry (distribution 2.8) with token auth whose
// token server (test/upstream/peers/token-server.mjs) accepts exactly what the action documents
// — Basic `github-actions:<ID token>`, the ID token verified against the issuer's JWKS with the
// expected audience — so skopeo and the docker CLI push and read with the credentials the action
// wrote. With BERTH_OIDC_ISSUER set (a local-issuer issuer URL that the Berth at BERTH_URL trusts
// through OIDC_ISSUER / OIDC_TRUST, for berth-test/app on refs/heads/main, audience
// BERTH_OIDC_AUDIENCE), the last test runs the same login against Berth itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify } from "node:crypto";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir, tryRun, buildTestImages, which, BERTH_URL, BERTH_HOST } from "./harness.mjs";
import { startLocalIssuer, REQUEST_TOKEN } from "../oidc/local-issuer.mjs";
import { parseOutputs, runLine } from "./github-action.mjs";
import { makeSigningCertificate, startTokenServer, TOKEN_ISSUER, TOKEN_SERVICE } from "../upstream/peers/token-server.mjs";
import { freePort, startRegistry } from "../upstream/peers/registry.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const AUDIENCE = "https://berth.login.test";
const REPO = "berth-test/app";

let issuerServer;
let issuer;
let registry;
let tokenServer;
let images;
const exchanges = []; // what the token server was sent: {user, aud, repository, valid}
const stops = [];

const decodePayload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));

/** The token server's check: `github-actions` + an ID token signed by the issuer, for AUDIENCE, not expired. */
function verifierFor(jwks) {
  const keys = new Map(jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));
  return (user, password = "") => {
    const [header, payload, signature] = password.split(".");
    try {
      const { alg, kid } = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
      const claims = decodePayload(password);
      const valid =
        user === "github-actions" &&
        alg === "RS256" &&
        keys.has(kid) &&
        verify("RSA-SHA256", Buffer.from(`${header}.${payload}`), keys.get(kid), Buffer.from(signature, "base64url")) &&
        claims.iss === issuer &&
        claims.aud === AUDIENCE &&
        claims.exp > Date.now() / 1000;
      exchanges.push({ user, aud: claims.aud, repository: claims.repository, valid });
      return valid;
    } catch {
      exchanges.push({ user, valid: false });
      return false;
    }
  };
}

before(async () => {
  issuerServer = await startLocalIssuer();
  stops.push(() => issuerServer.stop());
  issuer = issuerServer.issuer("login");
  const jwks = await (await fetch(`${issuer}/.well-known/jwks`)).json();

  const dir = makeTempDir("berth-login-peers-");
  const { cert, key } = makeSigningCertificate(dir);
  const tokenPort = await freePort();
  tokenServer = await startTokenServer({ port: tokenPort, certPath: cert, keyPath: key, authenticate: verifierFor(jwks), log: () => {} });
  stops.push(() => new Promise((r) => (tokenServer.closeAllConnections(), tokenServer.close(r))));
  const storage = join(dir, "storage");
  mkdirSync(storage);
  registry = await startRegistry({
    name: "login",
    dir,
    storage,
    auth: { token: { realm: `http://127.0.0.1:${tokenPort}/token`, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, rootcertbundle: cert } },
  });
  stops.push(registry.stop);
  images = await buildTestImages(makeTempDir("berth-login-src-"));
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

/**
 * Runs the login step like a runner; `env` adds or overrides variables (undefined removes one).
 * Returns {code, stdout, stderr, outputs, home}. HOME is a fresh directory; so are DOCKER_CONFIG
 * and REGISTRY_AUTH_FILE unless `env` says otherwise.
 */
async function runLogin(inputs, env = {}) {
  const dir = makeTempDir("berth-login-");
  const outputFile = join(dir, "output");
  writeFileSync(outputFile, "");
  const full = {
    GITHUB_ACTIONS: "true",
    GITHUB_ACTION_PATH: join(ROOT, "login"),
    GITHUB_OUTPUT: outputFile,
    HOME: join(dir, "home"),
    DOCKER_CONFIG: join(dir, "docker"),
    REGISTRY_AUTH_FILE: join(dir, "containers", "auth.json"),
    XDG_RUNTIME_DIR: undefined,
    ACTIONS_ID_TOKEN_REQUEST_URL: `${issuer}/actions-token?api-version=2.0`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    // The harness relaxes TLS for its own requests; the action must decide for itself.
    NODE_TLS_REJECT_UNAUTHORIZED: "1",
    BERTH_TIMEOUT_MS: "10000",
    INPUT_REGISTRY: "",
    INPUT_AUDIENCE: "",
    INPUT_SCOPES: "",
    INPUT_INSECURE: "",
    ...env,
  };
  for (const [name, value] of Object.entries(inputs)) full[`INPUT_${name.toUpperCase()}`] = value;
  const childEnv = { ...process.env };
  for (const [name, value] of Object.entries(full)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  mkdirSync(full.HOME ?? join(dir, "home"), { recursive: true });
  const r = await tryRun("env", ["-i", ...Object.entries(childEnv).map(([k, v]) => `${k}=${v}`), "bash", "-c", runLine(join(ROOT, "login", "action.yml"))], { cwd: dir, timeoutMs: 60_000 });
  return { ...r, outputs: parseOutputs(readFileSync(outputFile, "utf8")), env: full };
}

const manifestDigest = (raw) => `sha256:${createHash("sha256").update(raw).digest("hex")}`;
const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const basicOf = (entry) => Buffer.from(entry.auth, "base64").toString("utf8");

test("login/action.yml declares the inputs and outputs the script uses", () => {
  const yml = readFileSync(join(ROOT, "login", "action.yml"), "utf8");
  assert.match(yml, /using:\s*"?composite"?/);
  for (const name of ["registry", "audience", "scopes", "insecure"]) {
    assert.match(yml, new RegExp(`^  ${name}:`, "m"), `input ${name}`);
    assert.match(yml, new RegExp(`INPUT_${name.toUpperCase()}: \\$\\{\\{ inputs\\.${name} \\}\\}`), `input ${name} passed to the script`);
  }
  for (const name of ["token", "expires-in", "host", "username"]) {
    assert.match(yml, new RegExp(`value: \\$\\{\\{ steps\\.login\\.outputs\\.${name} \\}\\}`), `output ${name}`);
  }
});

test("exchanges the ID token and writes credentials that skopeo and docker use to push and read", async () => {
  const host = new URL(registry.url).host;
  const before = exchanges.length;
  // An existing docker config keeps its other entries.
  const dir = makeTempDir("berth-login-docker-");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { "other.example": { auth: "b3RoZXI6eA==" } }, experimental: "enabled" }));

  const r = await runLogin({ registry: registry.url, audience: AUDIENCE, scopes: `repository:${REPO}:pull,push` }, { DOCKER_CONFIG: dir });
  assert.equal(r.code, 0, r.stderr + r.stdout);

  // The exchange: Basic github-actions:<ID token for AUDIENCE>, the scopes asked for.
  const sent = exchanges.slice(before);
  assert.deepEqual(sent, [{ user: "github-actions", aud: AUDIENCE, repository: REPO, valid: true }]);
  const registryToken = decodePayload(r.outputs.token);
  assert.deepEqual(registryToken.access, [{ type: "repository", name: REPO, actions: ["pull", "push"] }]);
  assert.equal(registryToken.aud, TOKEN_SERVICE, "the service came from the registry's challenge");
  assert.equal(r.outputs["expires-in"], "300");
  assert.equal(r.outputs.host, host);
  assert.equal(r.outputs.username, "github-actions");

  // The files: the same Basic credentials for docker and for podman/skopeo, owner-only.
  const docker = readJson(join(dir, "config.json"));
  assert.deepEqual(Object.keys(docker.auths).sort(), ["other.example", host].sort());
  assert.equal(docker.experimental, "enabled");
  const [user, idToken] = basicOf(docker.auths[host]).split(":");
  assert.equal(user, "github-actions");
  assert.equal(decodePayload(idToken).aud, AUDIENCE);
  const containers = readJson(r.env.REGISTRY_AUTH_FILE);
  assert.deepEqual(containers.auths[host], docker.auths[host]);
  for (const file of [join(dir, "config.json"), r.env.REGISTRY_AUTH_FILE]) assert.equal(statSync(file).mode & 0o777, 0o600, file);

  // Secrets are masked before anything else could print them, and printed nowhere else.
  const lines = r.stdout.split("\n");
  for (const secret of [idToken, r.outputs.token, REQUEST_TOKEN]) {
    const first = lines.findIndex((line) => line.includes(secret));
    assert.equal(lines[first], `::add-mask::${secret}`, "masked first");
    assert.ok(lines.every((line) => !line.includes(secret) || line === `::add-mask::${secret}`), "printed only in the mask command");
  }
  assert.ok(!r.stderr.includes(idToken));

  // Real clients with those files: skopeo pushes with auth.json (REGISTRY_AUTH_FILE) …
  const ref = `docker://${host}/${REPO}:v1`;
  const denied = await skopeoWith({ REGISTRY_AUTH_FILE: join(dir, "absent.json") }, ["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, ref]);
  assert.notEqual(denied.code, 0, "without credentials the registry refuses the push");
  assert.match(denied.stderr, /denied|unauthorized|authentication required/i);
  const c = await skopeoWith({ REGISTRY_AUTH_FILE: r.env.REGISTRY_AUTH_FILE }, ["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${images.dir}:app`, ref]);
  assert.equal(c.code, 0, c.stderr);
  // … and reads with docker's config.json alone.
  const read = await skopeoWith({ DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: join(dir, "absent.json") }, ["inspect", "--raw", "--tls-verify=false", ref]);
  assert.equal(read.code, 0, read.stderr);
  assert.equal(manifestDigest(read.stdout), images.app.digest);

  if (await which("docker")) {
    const inspect = await tryRun("docker", ["manifest", "inspect", "--insecure", `${host}/${REPO}:v1`], { env: { DOCKER_CONFIG: dir }, timeoutMs: 60_000 });
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout).config.digest, JSON.parse(read.stdout).config.digest);
  } else {
    console.log("# docker CLI not installed: docker manifest inspect skipped");
  }
});

/** skopeo with the harness policy and only the credentials named in `env`. */
async function skopeoWith(env, args) {
  const policy = join(makeTempDir("berth-login-policy-"), "policy.json");
  writeFileSync(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  return tryRun("skopeo", ["--policy", policy, ...args], { env: { HOME: makeTempDir("berth-login-home-"), XDG_RUNTIME_DIR: "", DOCKER_CONFIG: "", ...env }, timeoutMs: 120_000 });
}

test("without DOCKER_CONFIG and REGISTRY_AUTH_FILE: ~/.docker/config.json and $XDG_RUNTIME_DIR/containers/auth.json (or ~/.config/containers/auth.json)", async () => {
  const host = new URL(registry.url).host;
  const runtime = makeTempDir("berth-login-xdg-");
  const withXdg = await runLogin({ registry: registry.url, audience: AUDIENCE }, { DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined, XDG_RUNTIME_DIR: runtime });
  assert.equal(withXdg.code, 0, withXdg.stderr + withXdg.stdout);
  assert.ok(readJson(join(withXdg.env.HOME, ".docker", "config.json")).auths[host]);
  assert.ok(readJson(join(runtime, "containers", "auth.json")).auths[host]);

  const without = await runLogin({ registry: registry.url, audience: AUDIENCE }, { DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined });
  assert.equal(without.code, 0, without.stderr + without.stdout);
  assert.ok(readJson(join(without.env.HOME, ".config", "containers", "auth.json")).auths[host]);
});

test("an ID token for another audience is refused by the registry: exit 1, nothing written", async () => {
  const r = await runLogin({ registry: registry.url, audience: "https://github.com/berth-test" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Berth did not accept the GitHub OIDC token at http:\/\/127\.0\.0\.1:\d+\/token: HTTP 401/);
  assert.match(r.stdout, /^::error title=Berth login::/m);
  assert.ok(!existsSync(join(r.env.DOCKER_CONFIG, "config.json")));
  assert.ok(!existsSync(r.env.REGISTRY_AUTH_FILE));
  assert.equal(r.outputs.token, undefined);
});

test("without `permissions: id-token: write` the step says so (exit 2)", async () => {
  const r = await runLogin({ registry: registry.url }, { ACTIONS_ID_TOKEN_REQUEST_URL: undefined, ACTIONS_ID_TOKEN_REQUEST_TOKEN: undefined });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /give the job `permissions: id-token: write`/);
  const noRegistry = await runLogin({ registry: "" });
  assert.equal(noRegistry.code, 2);
  assert.match(noRegistry.stderr, /input `registry` is empty/);
});

test("the ID token is never sent to a token realm on another host", async () => {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url, authorization: req.headers.authorization });
    const port = server.address().port;
    res.writeHead(401, { "WWW-Authenticate": `Bearer realm="http://localhost:${port}/token",service="evil"`, "Content-Type": "application/json" }).end("{}");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const r = await runLogin({ registry: `http://127.0.0.1:${server.address().port}`, audience: AUDIENCE });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sends credentials to http:\/\/localhost:\d+, which is not 127\.0\.0\.1: refusing to send the ID token there/);
    assert.deepEqual(seen.map((s) => [s.path, s.authorization]), [["/v2/", undefined]]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("a self-signed Berth needs `insecure: true`", { skip: !BERTH_URL.startsWith("https:") && "BERTH_URL is not an https Berth (run through scripts/e2e.mjs)" }, async () => {
  const strict = await runLogin({ registry: BERTH_URL, audience: AUDIENCE });
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
  const relaxed = await runLogin({ registry: BERTH_URL, audience: AUDIENCE, insecure: "true" });
  // Past TLS: whatever Berth answers now, it is not a certificate error.
  assert.doesNotMatch(relaxed.stderr, /cannot reach|certificate|SELF_SIGNED/i);
});

const oidcIssuer = process.env.BERTH_OIDC_ISSUER;
test(
  "against Berth with OIDC on: login, skopeo push with the written credentials, pin with the token output",
  { skip: !oidcIssuer && "BERTH_OIDC_ISSUER unset: Berth at BERTH_URL does not trust a local issuer in this run" },
  async () => {
    const audience = process.env.BERTH_OIDC_AUDIENCE ?? BERTH_URL;
    const tag = `login-${Date.now()}`;
    const r = await runLogin(
      { registry: BERTH_URL, audience, scopes: `repository:${REPO}:pull`, insecure: "true" },
      { ACTIONS_ID_TOKEN_REQUEST_URL: `${oidcIssuer}/actions-token?api-version=2.0` },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const push = await skopeoWith({ REGISTRY_AUTH_FILE: r.env.REGISTRY_AUTH_FILE }, ["copy", "--dest-tls-verify=false", `oci:${images.dir}:app`, `docker://${BERTH_HOST}/${REPO}:${tag}`]);
    assert.equal(push.code, 0, push.stderr);
    const pinOut = join(makeTempDir("berth-login-pin-"), "output");
    writeFileSync(pinOut, "");
    const pin = await tryRun("bash", ["-c", `node "${join(ROOT, "action", "pin.mjs")}"`], {
      env: { GITHUB_OUTPUT: pinOut, INPUT_REGISTRY: BERTH_URL, INPUT_IMAGES: `${BERTH_HOST}/${REPO}:${tag}`, INPUT_PLATFORM: "", INPUT_TOKEN: r.outputs.token, NODE_TLS_REJECT_UNAUTHORIZED: "0" },
      timeoutMs: 60_000,
    });
    assert.equal(pin.code, 0, pin.stderr + pin.stdout);
    assert.equal(parseOutputs(readFileSync(pinOut, "utf8")).digest, images.app.digest);
  },
);
