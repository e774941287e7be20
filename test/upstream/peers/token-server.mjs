// A Docker-style token server for distribution's `auth: token`: GET /token?service=&scope= →
// {token, access_token, expires_in, issued_at}, RS256 JWTs carrying the signing certificate in
// x5c (the registry verifies the chain against its rootcertbundle). Credentials berth/berth-pass
// get what they ask for; anonymous callers get pull on public/* only (like Docker Hub's private
// repositories, anything else yields a token without access and the registry answers 401).
import { execFileSync } from "node:child_process";
import { createSign, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

export const TOKEN_SERVICE = "berth-test-registry";
export const TOKEN_ISSUER = "berth-test-issuer";

const b64url = (data) => Buffer.from(data).toString("base64url");

/** Self-signed RSA certificate and key, made with openssl. */
export function makeSigningCertificate(dir) {
  const key = join(dir, "token.key");
  const cert = join(dir, "token.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=berth-test-token"], {
    stdio: "ignore",
  });
  return { key, cert };
}

/**
 * `credentials` ({username, password}) are the only accepted Basic credentials, unless
 * `authenticate(username, password) → boolean` decides instead (the login action's test accepts
 * GitHub OIDC ID tokens that way).
 */
export function startTokenServer({ port, certPath, keyPath, credentials, authenticate, log }) {
  const accept = authenticate ?? ((user, pass) => user === credentials.username && pass === credentials.password);
  const certPem = readFileSync(certPath, "utf8");
  const keyPem = readFileSync(keyPath, "utf8");
  const x5c = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
  const settings = { expiresIn: 300 };

  function sign(claims) {
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [x5c] }));
    const payload = b64url(JSON.stringify(claims));
    const signer = createSign("RSA-SHA256");
    signer.update(`${header}.${payload}`);
    return `${header}.${payload}.${signer.sign(keyPem).toString("base64url")}`;
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const authorization = req.headers.authorization ?? "";
    log({ server: "token-server", method: req.method, path: url.pathname, query: url.search, auth: authorization.split(" ")[0] || undefined, scope: url.searchParams.get("scope") ?? "" });
    if (url.pathname === "/__settings") {
      settings.expiresIn = Number(url.searchParams.get("expires_in") ?? settings.expiresIn);
      res.end(JSON.stringify(settings));
      return;
    }
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    let account = "";
    if (authorization) {
      const [scheme, value = ""] = authorization.split(" ");
      const [user, pass] = Buffer.from(value, "base64").toString("utf8").split(":");
      if (scheme !== "Basic" || !accept(user, pass)) {
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "incorrect username or password" }));
        return;
      }
      account = user;
    }
    const access = [];
    for (const scope of url.searchParams.getAll("scope").flatMap((s) => s.split(" "))) {
      const [type, name, actions = ""] = scope.split(":");
      if (type !== "repository" || !name) continue;
      const wanted = actions.split(",").filter(Boolean);
      const granted = account ? wanted : name.startsWith("public/") ? wanted.filter((a) => a === "pull") : [];
      access.push({ type, name, actions: granted });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = sign({
      iss: TOKEN_ISSUER,
      sub: account,
      aud: url.searchParams.get("service") ?? "",
      exp: now + settings.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ token, access_token: token, expires_in: settings.expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
