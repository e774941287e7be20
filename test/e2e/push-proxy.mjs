// An https proxy for the `berth push` tests: forwards every request to a registry, records
// method, path, headers and response status, and can drop the connection once in the middle of
// a chunk: after `cutAfterBytes` bytes of the `cutPatch`-th PATCH body (counting those of at
// least 2 × that size; default the first) it destroys both the client's connection and the one
// to the registry (what a flaky network does). With `rejectAbove` it answers 413 to any body
// declared larger, before reading it, as Cloudflare's edge does above a plan's limit.

import https from "node:https";
import { selfSignedCert } from "./harness.mjs";

export async function startPushProxy({ target, cutAfterBytes, cutPatch = 1, rejectAbove } = {}) {
  const { key, cert } = await selfSignedCert();
  const upstream = new URL(target);
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const requests = [];
  let cuts = 0;
  let bigPatches = 0;
  const server = https.createServer({ key, cert }, (req, res) => {
    const record = { method: req.method, path: req.url, headers: { ...req.headers }, status: 0 };
    requests.push(record);
    if (rejectAbove && Number(req.headers["content-length"] ?? 0) > rejectAbove) {
      record.status = 413;
      res.writeHead(413, { "content-type": "text/html", connection: "close" });
      res.end("<html><body><h1>413 Request Entity Too Large</h1></body></html>");
      req.socket.destroySoon?.();
      return;
    }
    const up = https.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        record.status = ur.statusCode ?? 0;
        record.responseHeaders = { ...ur.headers };
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", (e) => {
      if (record.cut) return;
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${e.message}`);
    });
    const length = Number(req.headers["content-length"] ?? 0);
    if (cutAfterBytes && cuts === 0 && req.method === "PATCH" && length >= 2 * cutAfterBytes && ++bigPatches === cutPatch) {
      cuts += 1;
      record.cut = true;
      let forwarded = 0;
      req.on("data", (piece) => {
        if (forwarded >= cutAfterBytes) return;
        const take = piece.subarray(0, cutAfterBytes - forwarded);
        forwarded += take.length;
        up.write(take);
        if (forwarded >= cutAfterBytes) {
          record.forwarded = forwarded;
          up.destroy();
          req.socket.destroy();
        }
      });
      return;
    }
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        agent.destroy();
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
