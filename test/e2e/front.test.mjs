// The quick start's front (scripts/front.mjs) against a plain Node upstream standing in for
// wrangler dev: one port for TLS and plain HTTP, the Host header kept, and breaks passed on in
// both directions (a client that goes away aborts the upstream request; an upstream body that
// ends early truncates the client's). Needs no registry.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { startFront } from "../../scripts/front.mjs";
import { makeSelfSignedCert } from "../../scripts/self-signed-cert.mjs";

let upstream;
let front;
let lastRequest; // {host, done: Promise<"complete"|"aborted">}

before(async () => {
  upstream = createServer((req, res) => {
    let settle;
    lastRequest = { host: req.headers.host, transferEncoding: req.headers["transfer-encoding"], done: new Promise((r) => (settle = r)) };
    let bytes = 0;
    req.on("data", (d) => (bytes += d.length));
    req.on("end", () => settle("complete"));
    req.on("close", () => settle(req.complete ? "complete" : "aborted"));
    if (req.url === "/truncated") {
      res.writeHead(200, { "Content-Length": "100000" });
      res.write(Buffer.alloc(50_000));
      setTimeout(() => res.destroy(), 50);
      return;
    }
    if (req.url === "/slow-upload") return; // never answers: the client gives up
    req.on("end", () => res.end(JSON.stringify({ host: req.headers.host, bytes })));
  });
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  front = await startFront({ port: 0, upstreamPort: upstream.address().port, tls: makeSelfSignedCert() });
});

after(() => {
  front?.close();
  upstream?.close();
  upstream?.closeAllConnections();
});

function call(scheme, path, { method = "GET", body, headers = {} } = {}) {
  const send = scheme === "https" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({ host: "127.0.0.1", port: front.port, path, method, headers, rejectUnauthorized: false }, (res) => {
      const parts = [];
      res.on("data", (d) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(parts), complete: res.complete }));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
    });
    req.on("error", reject);
    req.end(body);
  });
}

for (const scheme of ["http", "https"]) {
  test(`${scheme} on the one port, Host kept, chunked bodies forwarded chunked`, async () => {
    const r = await call(scheme, "/echo", { method: "PUT", body: Buffer.alloc(70_000, 1), headers: { "Transfer-Encoding": "chunked" } });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { host: `127.0.0.1:${front.port}`, bytes: 70_000 });
    assert.equal(lastRequest.transferEncoding, "chunked");
  });

  test(`${scheme}: an upstream body that ends early truncates the client's response`, { timeout: 10_000 }, async () => {
    await assert.rejects(call(scheme, "/truncated"), /aborted|socket hang up|ECONNRESET/);
  });

  test(`${scheme}: a client that goes away aborts the upstream request`, async () => {
    const send = scheme === "https" ? httpsRequest : httpRequest;
    const req = send({ host: "127.0.0.1", port: front.port, path: "/slow-upload", method: "PUT", headers: { "Transfer-Encoding": "chunked" }, rejectUnauthorized: false });
    req.on("error", () => undefined);
    req.write(Buffer.alloc(1000));
    await new Promise((r) => setTimeout(r, 300));
    const seen = lastRequest;
    req.destroy();
    const outcome = await Promise.race([seen.done, new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000))]);
    assert.equal(outcome, "aborted");
  });
}
