// The quick start's front door: one port that answers both plain HTTP and TLS, in front of
// `wrangler dev` on an internal port. skopeo, podman and the docker CLI try TLS first and wait
// 10 s for a handshake a plain-HTTP port never answers; browsers and curl speak plain HTTP.
// The first byte of each connection decides: 0x16 (a TLS ClientHello record) → TLS with the
// self-signed certificate, anything else → plain HTTP. Requests are forwarded as they come:
// bodies stream both ways with backpressure (never buffered), the Host header is kept (so
// URLs and Location headers name this port), a client that goes away aborts its upstream
// request, and an upstream that breaks off a response breaks off the client's.

import { createServer as createHttpServer, request as httpRequest, Agent } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer } from "node:net";

const TLS_HANDSHAKE = 0x16;

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect"]);

/**
 * rawHeaders without the hop-by-hop ones. A request keeps Transfer-Encoding: a body of
 * undeclared length (what skopeo and podman send) goes on chunked, as it came.
 */
function forwardedHeaders(rawHeaders, { keepTransferEncoding = false } = {}) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) || (keepTransferEncoding && name === "transfer-encoding")) out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

/**
 * Starts the front on host:port. Options:
 *   upstreamPort  where wrangler dev listens (127.0.0.1)
 *   tls           {key, cert} PEM
 *   ready         a promise that settles once the upstream answers; requests wait for it
 *   rewritePath   (path) => path: lets the caller map a path to another (see start.mjs)
 * Resolves {port, close()} once listening; rejects with the listen error (e.g. EADDRINUSE).
 */
export function startFront({ host = "127.0.0.1", port, upstreamPort, tls, ready = Promise.resolve(), rewritePath = (path) => path }) {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  async function forward(request, response) {
    try {
      await ready;
    } catch {
      response.writeHead(503, { "Content-Type": "text/plain" }).end("wrangler dev did not start; see its output\n");
      return;
    }
    const upstream = httpRequest({
      host: "127.0.0.1",
      port: upstreamPort,
      method: request.method,
      path: rewritePath(request.url),
      headers: forwardedHeaders(request.rawHeaders, { keepTransferEncoding: true }),
      setHost: false,
      agent,
    });
    upstream.on("response", (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardedHeaders(answer.rawHeaders));
      answer.pipe(response);
      // wrangler broke off the body: break off the client's too, so it sees a truncated response
      answer.on("close", () => {
        if (!answer.complete) response.destroy();
      });
      answer.on("error", () => response.destroy());
    });
    upstream.on("error", (error) => {
      if (response.headersSent) response.destroy();
      else response.writeHead(502, { "Content-Type": "text/plain" }).end(`cannot reach wrangler dev on port ${upstreamPort}: ${error.message}\n`);
    });
    request.pipe(upstream);
    // The client went away before the whole answer was sent: abort the request upstream too.
    response.on("close", () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.on("error", () => upstream.destroy());
  }

  const servers = [createHttpServer(forward), createHttpsServer({ key: tls.key, cert: tls.cert }, forward)];
  for (const server of servers) {
    // Pushes and pulls of big blobs take as long as they take; the kernel notices dead peers.
    server.requestTimeout = 0;
    server.timeout = 0;
  }
  const [plain, secure] = servers;
  const sockets = new Set();
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.once("data", (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === TLS_HANDSHAKE ? secure : plain).emit("connection", socket);
      process.nextTick(() => socket.resume());
    });
  });

  return new Promise((resolve, reject) => {
    front.once("error", reject);
    front.listen(port, host, () => {
      front.off("error", reject);
      resolve({
        port: front.address().port,
        close() {
          front.close();
          for (const socket of sockets) socket.destroy();
          agent.destroy();
        },
      });
    });
  });
}
