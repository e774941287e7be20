// Registry credentials from the files docker, podman and skopeo already use, so `berth push`
// needs no login of its own: --authfile, $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
// ~/.config/containers/auth.json, then $DOCKER_CONFIG/config.json (~/.docker/config.json).
// In each: credHelpers.<host>, then auths.<key>.auth (base64 user:pass) or .identitytoken,
// then credsStore (docker-credential-<store> get).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./errors.mjs";

const DOCKER_HUB_KEYS = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/** The credential files to look in, most specific first. */
export function credentialFiles({ authfile, env = process.env, home = homedir() } = {}) {
  if (authfile) return [authfile];
  const files = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  files.push(join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers", "auth.json"));
  files.push(join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"));
  return files;
}

/** `https://index.docker.io/v1/` → `docker.io`, `https://host:5000/` → `host:5000`, `host/ns/repo` kept. */
export function normalizeAuthKey(key) {
  let k = key.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "").replace(/\/v[12]$/, "");
  const slash = k.indexOf("/");
  const host = slash < 0 ? k : k.slice(0, slash);
  if (DOCKER_HUB_KEYS.includes(host)) k = "docker.io" + (slash < 0 ? "" : k.slice(slash));
  return k;
}

/**
 * The `auths` entry for host/repository: the longest key that is the host or a path prefix of
 * host/repository (podman allows per-namespace entries). Returns [key, entry] or undefined.
 */
export function matchAuthEntry(auths, host, repository) {
  const want = `${DOCKER_HUB_KEYS.includes(host) ? "docker.io" : host}/${repository}`;
  let best;
  for (const [key, entry] of Object.entries(auths ?? {})) {
    const k = normalizeAuthKey(key);
    if (want === k || want.startsWith(k + "/")) {
      if (!best || k.length > best[0].length) best = [k, entry];
    }
  }
  return best;
}

/** Decodes an auths entry: {username, password} or {username, identityToken}; undefined if empty. */
export function decodeAuthEntry(entry) {
  if (entry?.identitytoken) {
    const [username] = entry.auth ? Buffer.from(entry.auth, "base64").toString("utf8").split(":") : [""];
    return { username, identityToken: entry.identitytoken };
  }
  if (entry?.auth) {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon < 0) return undefined;
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry?.username && entry?.password) return { username: entry.username, password: entry.password };
  return undefined;
}

function fromHelper(helper, host) {
  const server = host === "docker.io" ? "https://index.docker.io/v1/" : host;
  const result = spawnSync(`docker-credential-${helper}`, ["get"], { input: server, encoding: "utf8", timeout: 30_000 });
  if (result.error || result.status !== 0) return undefined;
  try {
    const { Username, Secret } = JSON.parse(result.stdout);
    if (!Secret) return undefined;
    return Username === "<token>" ? { username: "", identityToken: Secret } : { username: Username, password: Secret };
  } catch {
    return undefined;
  }
}

/** Credentials for host/repository from the usual files, with `from` naming where they came from. */
export function findCredentials(host, repository, options = {}) {
  for (const file of credentialFiles(options)) {
    let config;
    try {
      config = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      if (error.code === "ENOENT" && !options.authfile) continue;
      throw new Error(`cannot read credentials from ${file}: ${error.message}`);
    }
    const helper = config.credHelpers?.[host] ?? (host === "docker.io" ? config.credHelpers?.["index.docker.io"] : undefined);
    if (helper) {
      const found = fromHelper(helper, host);
      if (found) return { ...found, from: `docker-credential-${helper}` };
    }
    const match = matchAuthEntry(config.auths, host, repository);
    const decoded = match && decodeAuthEntry(match[1]);
    if (decoded) return { ...decoded, from: file };
    if (config.credsStore) {
      const found = fromHelper(config.credsStore, host);
      if (found) return { ...found, from: `docker-credential-${config.credsStore}` };
    }
  }
  return undefined;
}

/** `user:pass` from --creds. */
export function parseCreds(text) {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new UsageError("--creds must be user:password");
  return { username: text.slice(0, colon), password: text.slice(colon + 1), from: "--creds" };
}
