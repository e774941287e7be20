#!/usr/bin/env node
// Logs a GitHub Actions job in to Berth with the job's OIDC ID token — the script behind
// login/action.yml. No dependencies: Node 18+ (fetch). No long-lived secret is involved:
//   1. request an ID token for `audience` from ACTIONS_ID_TOKEN_REQUEST_URL with
//      ACTIONS_ID_TOKEN_REQUEST_TOKEN (present when the job has `permissions: id-token: write`);
//   2. find Berth's token endpoint from the challenge of GET /v2/ (realm, service) and exchange
//      the ID token there: GET <realm>?service=…&scope=… with Basic credentials
//      `github-actions:<ID token>` (Berth's /token recognises the password as an OIDC token);
//   3. write those Basic credentials for the following steps: docker ($DOCKER_CONFIG/config.json
//      or ~/.docker/config.json) and podman/skopeo/buildah ($REGISTRY_AUTH_FILE, or
//      $XDG_RUNTIME_DIR/containers/auth.json, or ~/.config/containers/auth.json). The clients
//      exchange them for short-lived registry tokens themselves, as long as the ID token lives.
//   inputs   INPUT_REGISTRY, INPUT_AUDIENCE (default: the registry URL), INPUT_SCOPES, INPUT_INSECURE
//   outputs  token (the registry token from step 2, for `token:` of the pin action), expires-in,
//            host (for image references), username
// Secrets are masked with ::add-mask:: before anything could print them. Exit code 2: unusable
// inputs or environment; 1: the exchange failed.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { InputError, escapeData, input, mask, registryUrl, setOutputs } from "./workflow.mjs";

const USERNAME = "github-actions";
const TIMEOUT_MS = Number(process.env.BERTH_TIMEOUT_MS || 30_000);
const MAX_BODY_BYTES = 1024 * 1024;

/** A GET to Berth; `insecure` accepts a self-signed certificate (local registries only). */
function get(url, headers, insecure) {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: "GET", headers, rejectUnauthorized: !insecure, timeout: TIMEOUT_MS }, (res) => {
      const chunks = [];
      let length = 0;
      res.on("data", (chunk) => {
        length += chunk.length;
        if (length > MAX_BODY_BYTES) req.destroy(new Error(`answer from ${target.origin} is larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${target.origin} within ${TIMEOUT_MS / 1000} s`)));
    req.on("error", (error) => reject(new Error(`cannot reach ${target.origin}: ${error.code ?? ""}${error.code ? " " : ""}${error.message}`)));
    req.end();
  });
}

async function requestIdToken(audience) {
  const url = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !requestToken) {
    throw new InputError("no GitHub OIDC token available: give the job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is unset)");
  }
  mask(requestToken);
  // GitHub's URL already has a query (api-version); the audience is added to it.
  const tokenUrl = new URL(url);
  tokenUrl.searchParams.set("audience", audience);
  const response = await fetch(tokenUrl, {
    headers: { Authorization: `Bearer ${requestToken}`, Accept: "application/json" },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  }).catch((error) => {
    throw new Error(`cannot request the GitHub OIDC token: ${error?.cause?.message ?? error.message}`);
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.value !== "string" || !body.value) {
    throw new Error(`GitHub refused the OIDC token request: HTTP ${response.status} ${body.message ?? ""}`.trim());
  }
  mask(body.value);
  return body.value;
}

/** realm and service from `Bearer realm="…",service="…"` (quoted values may contain commas). */
function parseChallenge(header) {
  const value = Array.isArray(header) ? header.find((h) => /^bearer\s/i.test(h)) : header;
  if (!value || !/^bearer\s/i.test(value)) return undefined;
  const params = {};
  for (const match of value.slice(6).matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[match[1].toLowerCase()] = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3];
  }
  return params.realm ? params : undefined;
}

/** Where Berth wants credentials exchanged: the realm of its /v2/ challenge, or <registry>/token. */
async function tokenEndpoint(registry, insecure) {
  const probe = await get(new URL("/v2/", registry), { "User-Agent": "berth-login-action" }, insecure);
  const challenge = probe.status === 401 ? parseChallenge(probe.headers["www-authenticate"]) : undefined;
  if (!challenge) return { realm: new URL("/token", registry), service: registry.host };
  let realm;
  try {
    realm = new URL(challenge.realm);
  } catch {
    throw new Error(`${registry.origin}/v2/ names a token realm that is not a URL: ${challenge.realm}`);
  }
  // The ID token is only ever sent to the registry's own host.
  if (realm.hostname !== registry.hostname || (realm.protocol !== registry.protocol && registry.protocol === "https:")) {
    throw new Error(`${registry.origin}/v2/ sends credentials to ${realm.origin}, which is not ${registry.hostname}: refusing to send the ID token there`);
  }
  return { realm, service: challenge.service ?? registry.host };
}

function berthError(response) {
  let body;
  try {
    body = JSON.parse(response.text);
  } catch {
    body = undefined;
  }
  const first = body?.errors?.[0];
  if (first) return `${first.code}: ${first.message} [HTTP ${response.status}]`;
  const snippet = response.text.replace(/\s+/g, " ").trim().slice(0, 200);
  return `HTTP ${response.status}${snippet ? `: ${snippet}` : ""}`;
}

async function exchange(registry, idToken, scopes, insecure) {
  const { realm, service } = await tokenEndpoint(registry, insecure);
  const url = new URL(realm);
  url.searchParams.set("service", service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const basic = Buffer.from(`${USERNAME}:${idToken}`).toString("base64");
  mask(basic);
  const response = await get(url, { Authorization: `Basic ${basic}`, Accept: "application/json", "User-Agent": "berth-login-action" }, insecure);
  if (response.status !== 200) throw new Error(`Berth did not accept the GitHub OIDC token at ${url.origin}${url.pathname}: ${berthError(response)}`);
  let body;
  try {
    body = JSON.parse(response.text);
  } catch {
    body = {};
  }
  const token = body.token ?? body.access_token;
  if (typeof token !== "string" || !token) throw new Error(`${url.origin}${url.pathname} answered without a token: is this Berth's URL?`);
  mask(token);
  return { token, expiresIn: Number(body.expires_in) || 60 };
}

/** Adds `auths[host]` to a docker-format credentials file (docker config.json, containers auth.json), keeping the rest. */
function writeCredentials(file, host, basic) {
  let config = {};
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  if (text !== undefined && text.trim()) {
    try {
      config = JSON.parse(text);
    } catch {
      throw new Error(`${file} is not valid JSON: not overwriting it`);
    }
  }
  if (typeof config.auths !== "object" || config.auths === null) config.auths = {};
  config.auths[host] = { auth: basic };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
  return config;
}

function credentialFiles() {
  const home = homedir();
  const docker = join(process.env.DOCKER_CONFIG || join(home, ".docker"), "config.json");
  const containers =
    process.env.REGISTRY_AUTH_FILE ||
    (process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, "containers", "auth.json") : join(home, ".config", "containers", "auth.json"));
  return { docker, containers };
}

/** When the ID token expires (read, not verified: for the log line only). */
function expiry(idToken) {
  try {
    const exp = JSON.parse(Buffer.from(idToken.split(".")[1], "base64url").toString("utf8")).exp;
    return typeof exp === "number" ? new Date(exp * 1000).toISOString() : "its expiry";
  } catch {
    return "its expiry";
  }
}

async function main() {
  const registry = new URL(registryUrl(input("registry")).origin);
  const audience = input("audience") || registry.origin;
  const scopes = input("scopes").split(/[\s]+/).filter(Boolean);
  const insecure = /^(true|yes|1)$/i.test(input("insecure"));

  const idToken = await requestIdToken(audience);
  const { token, expiresIn } = await exchange(registry, idToken, scopes, insecure);

  const basic = Buffer.from(`${USERNAME}:${idToken}`).toString("base64");
  const files = credentialFiles();
  const docker = writeCredentials(files.docker, registry.host, basic);
  writeCredentials(files.containers, registry.host, basic);
  if (docker.credsStore || docker.credHelpers?.[registry.host]) {
    console.log(`::warning title=Berth login::${escapeData(`${files.docker} names a credential helper; docker may use it instead of the credentials written for ${registry.host}`)}`);
  }
  setOutputs({ token, "expires-in": String(expiresIn), host: registry.host, username: USERNAME }, { secret: ["token"] });
  console.log(`Logged in to ${registry.host} as ${USERNAME} (GitHub OIDC, audience ${audience}); credentials valid until ${expiry(idToken)}.`);
  console.log(`  docker: ${files.docker}`);
  console.log(`  podman/skopeo/buildah: ${files.containers}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    const message = error instanceof InputError ? error.message : error?.message || String(error);
    console.log(`::error title=Berth login::${escapeData(message)}`);
    console.error(message);
    process.exit(error instanceof InputError ? 2 : 1);
  },
);
