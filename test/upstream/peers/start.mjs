// Starts the real upstream peers used by the upstream client tests (vitest globalSetup) and by
// the pull-through cache e2e tests (scripts/e2e.mjs): three Debian docker-registry (distribution
// 2.8.2) instances on 127.0.0.1 — open, htpasswd Basic auth, and token auth with a local token
// server — seeded with skopeo from OCI layouts written in code, a logging / fault-injecting proxy
// ("front") in front of each, and a "CDN" for redirected blobs.
// Needs on the machine: docker-registry, skopeo, openssl (Debian packages).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLog, startCdn, startFront } from "./front.mjs";
import { writeTestImages } from "./oci-layout.mjs";
import { REGISTRY_BINARY, freePort, startRegistry } from "./registry.mjs";
import { TOKEN_ISSUER, TOKEN_SERVICE, makeSigningCertificate, startTokenServer } from "./token-server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const HTPASSWD = join(here, "..", "..", "fixtures", "upstream", "htpasswd");
export const CREDENTIALS = { username: "berth", password: "berth-pass" };
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

function skopeo(args) {
  try {
    execFileSync("skopeo", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  } catch (error) {
    throw new Error(`skopeo ${args.join(" ")} failed: ${error.stderr?.toString() ?? error}`);
  }
}

/** Throws a message naming the missing tools (and how to install them). */
export function requireTools() {
  const missing = [];
  for (const [tool, args] of [
    [REGISTRY_BINARY, ["--version"]],
    ["skopeo", ["--version"]],
    ["openssl", ["version"]],
  ]) {
    try {
      execFileSync(tool, args, { stdio: "ignore" });
    } catch {
      missing.push(tool);
    }
  }
  if (missing.length) {
    throw new Error(`upstream peers need ${missing.join(", ")}: apt-get install -y docker-registry skopeo openssl`);
  }
}

/**
 * Starts every peer with its state under `dir` (an existing, empty directory the caller removes).
 * Returns { peers, stop() }; `peers` is plain JSON (see test/upstream/peers.ts, UpstreamPeers):
 * front URLs (open, basic, token), tokenServer, cdn, direct registry URLs, a refused URL, the
 * credentials, the token service, the seeded images and the seed layout's directory.
 * On failure everything started so far is stopped before the error is thrown.
 */
export async function startUpstreamPeers({ dir }) {
  requireTools();
  const cleanups = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const policy = join(dir, "policy.json");
    writeFileSync(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    const layout = join(dir, "layout");
    const images = writeTestImages(layout);

    // 1. The open registry, seeded with skopeo.
    const openStorage = join(dir, "storage-open");
    mkdirSync(openStorage);
    const open = await startRegistry({ name: "open", dir, storage: openStorage });
    cleanups.push(open.stop);
    const host = new URL(open.url).host;
    const copy = (ref, dest, extra = []) =>
      skopeo(["--policy", policy, "copy", "--all", "--dest-tls-verify=false", "--dest-no-creds", ...extra, `oci:${layout}:${ref}`, `docker://${host}/${dest}`]);
    for (const [ref, dest] of [
      ["single", "seed/single:v1"],
      ["single", "library/alpine:3"],
      ["single", "public/single:v1"],
      ["multi", "seed/multi:v1"],
    ]) {
      copy(ref, dest, ["--preserve-digests"]);
    }
    copy("single", "seed/docker:v1", ["--format", "v2s2"]);
    const dockerResponse = await fetch(`${open.url}/v2/seed/docker/manifests/v1`, { headers: { Accept: DOCKER_MANIFEST } });
    const dockerBytes = Buffer.from(await dockerResponse.arrayBuffer());
    const docker = {
      mediaType: dockerResponse.headers.get("content-type"),
      digest: dockerResponse.headers.get("docker-content-digest"),
      size: dockerBytes.length,
    };
    if (docker.mediaType !== DOCKER_MANIFEST) throw new Error(`seed/docker:v1 was stored as ${docker.mediaType}`);

    // 2. The same content behind htpasswd and behind token auth.
    const basicStorage = join(dir, "storage-basic");
    const tokenStorage = join(dir, "storage-token");
    cpSync(openStorage, basicStorage, { recursive: true });
    cpSync(openStorage, tokenStorage, { recursive: true });
    const htpasswd = join(dir, "htpasswd");
    writeFileSync(htpasswd, readFileSync(HTPASSWD));
    const basic = await startRegistry({ name: "basic", dir, storage: basicStorage, auth: { htpasswd } });
    cleanups.push(basic.stop);

    const log = createLog();
    const { cert, key } = makeSigningCertificate(dir);
    const tokenPort = await freePort();
    const tokenServerUrl = `http://127.0.0.1:${tokenPort}`;
    const tokenServer = await startTokenServer({ port: tokenPort, certPath: cert, keyPath: key, credentials: CREDENTIALS, log: log.record });
    cleanups.push(() => {
      tokenServer.closeAllConnections();
      return new Promise((resolve) => tokenServer.close(() => resolve()));
    });
    const token = await startRegistry({
      name: "token",
      dir,
      storage: tokenStorage,
      auth: { token: { realm: `${tokenServerUrl}/token`, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, rootcertbundle: cert } },
    });
    cleanups.push(token.stop);

    // 3. Logging / fault proxies and the CDN.
    const cdn = await startCdn({ origin: open.url, log });
    cleanups.push(cdn.close);
    const fronts = {};
    for (const [name, registry] of [
      ["open", open],
      ["basic", basic],
      ["token", token],
    ]) {
      const front = await startFront({ name, target: registry.url, cdnUrl: cdn.url, log });
      cleanups.push(front.close);
      fronts[name] = front.url;
    }

    const peers = {
      open: fronts.open,
      basic: fronts.basic,
      token: fronts.token,
      tokenServer: tokenServerUrl,
      cdn: cdn.url,
      direct: { open: open.url, basic: basic.url, token: token.url },
      refused: `http://127.0.0.1:${await freePort()}`,
      credentials: CREDENTIALS,
      tokenService: TOKEN_SERVICE,
      images: { ...images, docker },
      layout,
    };
    return { peers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
