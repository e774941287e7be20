// Pull-through cache in front of upstreams that want credentials, and blob redirects:
// - basic.test: docker-registry behind htpasswd, credentials from the BASIC_USER / BASIC_PASS
//   secrets (scripts/e2e.mjs passes them with --var);
// - token.test: docker-registry with Bearer token auth and a token server, credentials from
//   TOKEN_USER / TOKEN_PASS; anon.test: the same registry anonymously (public/* only);
// - a blob GET answered with 307 to a "CDN" on another loopback origin that rejects any request
//   carrying Authorization (Docker Hub's way), behind each of them.
// The request log shows what Berth sent: one challenge round trip, then credentials; one token
// per repository scope, pull only; nothing with credentials to the CDN.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { BERTH_HOST, MANIFEST_ACCEPT, berthFetch, compareLayouts, makeTempDir, readLayout, skopeo } from "./harness.mjs";
import {
  UpstreamLog, buildImage, clearFault, freshRepo, pushUpstream, setFault, short, upstreamPeers as peers, upstreamSkip as skip,
} from "./upstream.mjs";

before(() => {
  if (skip) console.error(`\n*** SKIPPING pull-through cache auth tests: ${skip} ***\n`);
});

async function pull(path) {
  const out = makeTempDir("berth-auth-pull-");
  await skopeo(["copy", "--src-tls-verify=false", `docker://${BERTH_HOST}/${path}`, `oci:${out}:pulled`]);
  return { out, descriptor: (await readLayout(out)).refs.get("pulled") };
}

async function freshAt(registries, label, repo = freshRepo(label)) {
  const img = await buildImage({ label });
  for (const registry of registries) await pushUpstream(registry, repo, "v1", img.dir, img.image.descriptor, { credentials: peers.credentials });
  return { repo, img };
}

const blobLines = (server, repo, img, auth) => img.blobs.map((b) => `${server} GET /v2/${repo}/blobs/${short(b.digest)}${auth ? ` [${auth}]` : ""}`);

test("basic.test: htpasswd upstream with credentials from secrets; one 401 round trip, then Basic on every request", { skip }, async () => {
  const { repo, img } = await freshAt([peers.direct.basic], "basic");
  const log = await UpstreamLog.mark();
  const { out, descriptor } = await pull(`basic.test/${repo}:v1`);
  assert.equal(descriptor.digest, img.image.digest);
  assert.equal(await compareLayouts(img.dir, out, img.image.descriptor), 5);
  const lines = await log.summary();
  assert.deepEqual(lines.slice(0, 2), [`basic GET /v2/${repo}/manifests/v1`, `basic GET /v2/${repo}/manifests/v1 [Basic]`], "challenge, then credentials");
  assert.deepEqual(lines.slice(2).sort(), blobLines("basic", repo, img, "Basic").sort(), "Basic sent at once for every blob (remembered), one GET each");
});

test("basic.test: a name the upstream does not have answers 404 once authenticated, not DENIED or 500", { skip }, async () => {
  const missing = await berthFetch(`/v2/basic.test/${freshRepo("nothing")}/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).errors[0].code, /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
});

test("token.test: Bearer token flow with credentials; one token per repository scope, pull only, reused for every blob", { skip }, async () => {
  const { repo, img } = await freshAt([peers.direct.token], "token");
  const log = await UpstreamLog.mark();
  const { out, descriptor } = await pull(`token.test/${repo}:v1`);
  assert.equal(descriptor.digest, img.image.digest);
  assert.equal(await compareLayouts(img.dir, out, img.image.descriptor), 5);

  const entries = await log.entries();
  const tokens = entries.filter((e) => e.server === "token-server");
  assert.equal(tokens.length, 1, `one token request: ${JSON.stringify(tokens)}`);
  assert.equal(tokens[0].auth, "Basic", "credentials go to the token server");
  assert.equal(tokens[0].scope, `repository:${repo}:pull`, "pull scope only");
  const lines = await log.summary();
  assert.deepEqual(lines.filter((l) => !l.startsWith("token-server")).slice(0, 2), [`token GET /v2/${repo}/manifests/v1`, `token GET /v2/${repo}/manifests/v1 [Bearer]`]);
  assert.deepEqual(lines.filter((l) => !l.startsWith("token-server")).slice(2).sort(), blobLines("token", repo, img, "Bearer").sort());
});

test("anon.test: anonymous tokens for public/*; a private repository answers DENIED with the upstream's words", { skip }, async () => {
  const { repo, img } = await freshAt([peers.direct.token], "anon", `public/${freshRepo("anon").slice(4)}`);
  const log = await UpstreamLog.mark();
  const { descriptor } = await pull(`anon.test/${repo}:v1`);
  assert.equal(descriptor.digest, img.image.digest);
  const tokens = (await log.entries()).filter((e) => e.server === "token-server");
  assert.equal(tokens.length, 1);
  assert.equal(tokens[0].auth, undefined, "anonymous: no credentials configured, none sent");
  assert.equal(tokens[0].scope, `repository:${repo}:pull`);

  const secret = await freshAt([peers.direct.token], "private");
  const denied = await berthFetch(`/v2/anon.test/${secret.repo}/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(denied.status, 403);
  const body = await denied.json();
  assert.equal(body.errors[0].code, "DENIED");
  assert.match(body.errors[0].message, /anon\.test denied/);
});

for (const [name, front, direct] of [
  ["basic.test", "basic", "basic"],
  ["token.test", "token", "token"],
  ["open.test", "open", "open"],
]) {
  test(`${name}: blobs redirected (307) to a CDN that rejects Authorization are fetched without credentials`, { skip }, async () => {
    // the CDN serves from the open registry: the image must be there too
    const { repo, img } = await freshAt([...new Set([peers.direct[direct], peers.direct.open])], `cdn-${front}`);
    await setFault(peers[front], repo, "cdn", { match: "blobs" });
    try {
      const log = await UpstreamLog.mark();
      const { out, descriptor } = await pull(`${name}/${repo}:v1`);
      assert.equal(descriptor.digest, img.image.digest);
      assert.equal(await compareLayouts(img.dir, out, img.image.descriptor), 5);
      const entries = await log.entries(repo);
      const cdn = entries.filter((e) => e.server === "cdn");
      assert.deepEqual(cdn.map((e) => e.path).sort(), img.blobs.map((b) => `/blobs/${repo}/${b.digest}`).sort(), "every blob once from the CDN");
      assert.ok(cdn.every((e) => e.auth === undefined), "no Authorization to the CDN");
      const redirected = entries.filter((e) => e.server === front && e.path.includes("/blobs/"));
      assert.equal(redirected.length, img.blobs.length, "one redirected GET per blob at the registry");
      if (front !== "open") assert.ok(redirected.every((e) => e.auth), "credentials only to the registry itself");
    } finally {
      await clearFault(peers[front], repo);
    }
  });
}
