// One HTTP exchange over node:http / node:https, with the control a push needs and fetch()
// does not give on Node 20 without a dependency: a per-registry TLS agent (self-signed
// certificates with --insecure), request bodies streamed with an exact Content-Length and
// backpressure, an idle timeout, and no automatic redirects (the caller decides whether
// credentials may follow one).

import http from "node:http";
import https from "node:https";

/** Sockets idle this long (no byte either way) are dropped and the exchange fails (retryable). */
const IDLE_TIMEOUT_MS = 120_000;

/** A failure below HTTP (connection refused or dropped, TLS, timeout): always worth a retry. */
export class NetworkError extends Error {
  constructor(message, cause) {
    super(message, { cause });
    this.name = "NetworkError";
    this.code = cause?.code;
  }
}

/** Keep-alive agents for one registry; `insecure` accepts any certificate. */
export function makeAgents({ insecure }) {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !insecure }),
  };
}

/**
 * Sends one request. `body` is undefined, a Buffer/string, or an async function
 * `(write) => Promise<void>` that calls `await write(buffer)` for each piece (write waits for
 * the socket to drain); streamed bodies need an explicit Content-Length header.
 * Resolves { status, headers, url, stream } once the response headers arrive; the caller
 * reads or drains `stream`.
 */
export function send({ url, method = "GET", headers = {}, body, agents, timeoutMs = IDLE_TIMEOUT_MS }) {
  const target = new URL(url);
  const secure = target.protocol === "https:";
  const transport = secure ? https : http;
  const allHeaders = { "User-Agent": "berth-push/0.1", ...headers };
  if (typeof body === "string" || Buffer.isBuffer(body)) allHeaders["Content-Length"] = String(Buffer.byteLength(body));
  else if (body === undefined && ["PUT", "POST", "PATCH"].includes(method)) allHeaders["Content-Length"] = "0";
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error) => {
      request.destroy();
      if (settled) return;
      settled = true;
      reject(error instanceof NetworkError ? error : new NetworkError(`${method} ${target.host}${target.pathname}: ${error.message}`, error));
    };
    const request = transport.request(target, { method, headers: allHeaders, agent: secure ? agents?.https : agents?.http }, (response) => {
      if (settled) return response.resume();
      settled = true;
      response.setTimeout(timeoutMs, () => response.destroy(new NetworkError(`${method} ${target.host}${target.pathname}: no data for ${timeoutMs / 1000} s`)));
      resolve({ status: response.statusCode ?? 0, headers: response.headers, url: target.toString(), stream: response });
    });
    request.setTimeout(timeoutMs, () => fail(new Error(`no answer for ${timeoutMs / 1000} s`)));
    request.on("error", fail);
    if (typeof body === "function") {
      const write = (chunk) =>
        new Promise((ok, ko) => {
          if (settled && !request.writable) return ko(new NetworkError("the connection closed while sending"));
          if (request.write(chunk)) ok();
          else {
            const onDrain = () => (request.off("close", onClose), ok());
            const onClose = () => (request.off("drain", onDrain), ko(new NetworkError("the connection closed while sending")));
            request.once("drain", onDrain);
            request.once("close", onClose);
          }
        });
      body(write).then(
        () => request.end(),
        (error) => fail(error),
      );
    } else {
      request.end(body);
    }
  });
}

/** Reads a (small) response body, refusing more than `limit` bytes. */
export async function readBody(response, limit = 16 * 1024 * 1024) {
  const pieces = [];
  let size = 0;
  for await (const piece of response.stream) {
    size += piece.length;
    if (size > limit) {
      response.stream.destroy();
      throw new Error(`${response.url}: response larger than ${limit} bytes`);
    }
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}

/** Discards a response body so the connection can be reused. */
export async function drain(response) {
  try {
    for await (const _ of response.stream);
  } catch {
    // a broken body we did not want anyway
  }
}
