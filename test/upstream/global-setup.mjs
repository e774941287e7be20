// vitest globalSetup (runs in Node, not workerd): real upstream registries for the upstream
// client tests. The peers themselves (docker-registry open / htpasswd / token with a local token
// server, seeded with skopeo, logging / fault-injecting proxies and a "CDN") are started by
// test/upstream/peers/start.mjs, which scripts/e2e.mjs uses too. Everything they are is handed to
// the tests with project.provide("upstreamPeers", …); see test/upstream/peers.ts for the shape.
// Needs on the machine: docker-registry, skopeo, openssl (Debian packages).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startUpstreamPeers } from "./peers/start.mjs";

export default async function setup(project) {
  const dir = mkdtempSync(join(tmpdir(), "berth-upstream-"));
  const removeDir = () => {
    if (!process.env.BERTH_KEEP_PEERS) rmSync(dir, { recursive: true, force: true });
  };
  let started;
  try {
    started = await startUpstreamPeers({ dir });
  } catch (error) {
    removeDir();
    throw error;
  }
  project.provide("upstreamPeers", started.peers);
  return async () => {
    await started.stop();
    removeDir();
  };
}
