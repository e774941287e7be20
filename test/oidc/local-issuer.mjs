// A local stand-in for GitHub's OIDC provider (Node, 127.0.0.1 only), used by the vitest OIDC
// tests (globalSetup) and by the login action's e2e test. Several independent issuers live
// under one server, each at `${url}/issuers/<name>` (an issuer URL with a path, like GitHub
// Enterprise Server's https://HOSTNAME/_services/token):
//   GET  <issuer>/.well-known/openid-configuration   discovery: issuer, jwks_uri
//   GET  <issuer>/.well-known/jwks                   the keys (counted: see __stats)
//   PUT  <issuer>/__jwks                             replace the served keys ({"keys": [...]})
//   GET  <issuer>/__stats                            {"discovery": n, "jwks": n}
//   GET  <issuer>/actions-token?audience=…           what ACTIONS_ID_TOKEN_REQUEST_URL answers on a
//        runner: {"count":1,"value":"<RS256 ID token>"}, signed with the issuer's own key (in the
//        served JWKS until replaced); needs `Authorization: Bearer <requestToken>`
//   PUT  <issuer>/__claims                           claims merged into the next minted tokens
import { createSign, generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

export const REQUEST_TOKEN = "local-actions-request-token";

/** Claims of a push to main in berth-test/app, GitHub's shape (shared with the vitest tests). */
export function defaultClaims() {
  return JSON.parse(readFileSync(new URL("./github-claims.json", import.meta.url), "utf8"));
}

/**
 * wrangler `--var`s that make Berth trust `issuer` (a URL from issuer(name)) the way
 * test/e2e/login.test.mjs expects with BERTH_OIDC_ISSUER: pushes to the default claims'
 * repository (berth-test/app/**, and berth-test/app itself) from refs/heads/main.
 */
export function berthOidcVars({ issuer, audience }) {
  const claims = defaultClaims();
  return {
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: audience,
    OIDC_TRUST: JSON.stringify([
      {
        repository: claims.repository,
        repositoryId: claims.repository_id,
        repositoryOwnerId: claims.repository_owner_id,
        ref: claims.ref,
        grants: [{ repositories: claims.repository, actions: ["pull", "push"] }, { repositories: `${claims.repository}/**`, actions: ["pull", "push"] }],
      },
    ]),
  };
}

function newIssuer(url) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  return { url, privateKey, kid, keys: [jwk], claims: {}, stats: { discovery: 0, jwks: 0 } };
}

function mint(issuer, audience) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...defaultClaims(), jti: randomUUID(), aud: audience, iss: issuer.url, nbf: now - 300, iat: now, exp: now + 3600, ...issuer.claims };
  const header = Buffer.from(JSON.stringify({ typ: "JWT", alg: "RS256", kid: issuer.kid })).toString("base64url");
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signer = createSign("RSA-SHA256");
  signer.update(`${header}.${payload}`);
  return `${header}.${payload}.${signer.sign(issuer.privateKey).toString("base64url")}`;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export async function startLocalIssuer() {
  const issuers = new Map();
  let base = "";
  const server = createServer(async (req, res) => {
    const send = (status, body) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    try {
      const url = new URL(req.url, base);
      const match = /^\/issuers\/([a-z0-9-]+)(\/.*)$/.exec(url.pathname);
      if (!match) return send(404, { error: "not found" });
      const [, name, path] = match;
      if (!issuers.has(name)) issuers.set(name, newIssuer(`${base}/issuers/${name}`));
      const issuer = issuers.get(name);
      const route = `${req.method} ${path}`;
      if (route === "GET /.well-known/openid-configuration") {
        issuer.stats.discovery++;
        return send(200, {
          issuer: issuer.url,
          jwks_uri: `${issuer.url}/.well-known/jwks`,
          subject_types_supported: ["public", "pairwise"],
          response_types_supported: ["id_token"],
          id_token_signing_alg_values_supported: ["RS256"],
        });
      }
      if (route === "GET /.well-known/jwks") {
        issuer.stats.jwks++;
        return send(200, { keys: issuer.keys });
      }
      if (route === "GET /__stats") return send(200, issuer.stats);
      if (route === "PUT /__jwks") {
        issuer.keys = (await readJson(req)).keys;
        return send(200, { keys: issuer.keys.length });
      }
      if (route === "PUT /__claims") {
        issuer.claims = await readJson(req);
        return send(200, issuer.claims);
      }
      if (route === "GET /actions-token") {
        if (req.headers.authorization !== `Bearer ${REQUEST_TOKEN}`) return send(401, { message: "bad request token" });
        const audience = url.searchParams.get("audience") ?? `https://github.com/${defaultClaims().repository_owner}`;
        return send(200, { count: 1, value: mint(issuer, audience) });
      }
      return send(404, { error: `no route ${route}` });
    } catch (error) {
      send(500, { error: String(error) });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: base,
    /** The issuer URL of the issuer called `name` (created on first use). */
    issuer: (name) => `${base}/issuers/${name}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
