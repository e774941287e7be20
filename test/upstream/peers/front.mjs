// Loopback HTTP servers in front of the real registries. Each logs every request (method, path,
// auth scheme) and passes it through, unless the first segment of the repository names a fault:
//   /v2/status-NNN/...            answer NNN (429 with Retry-After: 17, 503 with Retry-After: 5)
//   /v2/slow-headers/...          never answer (socket closed after 10 s)
//   /v2/slow-body/<repo>/...      headers and 1 KiB of body, then silence
//   /v2/truncated/<repo>/...      full Content-Length, half the body (all delivered), then a closed socket
//   /v2/corrupt/<repo>/...        full length, first byte flipped
//   /v2/no-digest/<repo>/...      passthrough without Docker-Content-Digest
//   /v2/no-length/<repo>/...      passthrough without Content-Length (chunked), as some CDNs send
//   /v2/cdn/<repo>/blobs/<d>      307 to the CDN server (another origin) once the registry said 200
//   /v2/same-origin-redirect/...  307 (relative Location) to this server's /__blob/<repo>/blobs/<d>
//   /v2/redirect-ftp/...          307 to ftp://
//   /v2/redirect-loop/...         302 to itself, forever
// The CDN server rejects any request that carries Authorization (as S3-style CDNs do) and
// otherwise serves the blob from the open registry. GET /__log?since=N&server=S on any server
// returns the shared log.
//
// Faults can also be switched on and off at runtime for a repository, without a path prefix, so
// that "the same pull succeeds once the upstream recovers" can be tested:
//   POST   /__fault?repo=<repo>&mode=<mode>[&match=blobs|manifests][&method=GET|HEAD][&times=N][&message=…][&chunked=1]
//   DELETE /__fault?repo=<repo>           (DELETE /__fault without repo clears every fault)
//   GET    /__fault                       lists the faults
// <repo> is the repository as the registry sees it (e.g. faults/a1b2); the fault applies to every
// request under /v2/<repo>/ (blobs or manifests only with match=, one method only with method=),
// for the next N of them with times=N; message= replaces the error message of status-NNN;
// chunked=1 drops Content-Length from whatever the mode sends (e.g. chunked=1 with corrupt). <mode> is any path mode above (status-NNN, slow-headers, slow-body, truncated,
// corrupt, no-digest, cdn, …), `drop`: the connection is destroyed before any answer (a
// registry that went away mid-request), or `trickle` with rate=<bytes per second> (default 1 MiB/s):
// the registry's answer, Range requests included, sent no faster than that — a slow network in
// front of the real registry. Control requests are not logged; a request's Range header is
// logged as `range`.
import { request as httpRequest, createServer } from "node:http";

const MODES = new Set(["slow-headers", "slow-body", "truncated", "corrupt", "no-digest", "no-length", "cdn", "same-origin-redirect", "redirect-ftp", "redirect-loop"]);
/** Modes only the runtime control (POST /__fault) can select. */
const RUNTIME_MODES = new Set(["drop", "trickle"]);
const isMode = (mode) => MODES.has(mode) || RUNTIME_MODES.has(mode) || /^status-\d{3}$/.test(mode);
const RATE_LIMIT = { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "42;w=21600" };
const HOLD_MS = 10_000;

export function createLog() {
  const entries = [];
  return {
    entries,
    record(entry) {
      entries.push({ seq: entries.length + 1, ...entry });
    },
  };
}

function serveLog(log, url, res) {
  const since = Number(url.searchParams.get("since") ?? 0);
  const server = url.searchParams.get("server");
  const entries = log.entries.filter((e) => e.seq > since && (!server || e.server === server));
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ last: log.entries.length, entries }));
}

function forward(req, target, path) {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: new URL(target).host };
    const upstream = httpRequest(`${target}${path}`, { method: req.method, headers }, resolve);
    upstream.on("error", reject);
    req.pipe(upstream);
  });
}

function plainRequest(method, url) {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method }, resolve);
    outgoing.on("error", reject);
    outgoing.end();
  });
}

function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

/** The runtime fault table of one front: repo → {mode, match, times}. */
function createFaults() {
  const faults = new Map();
  return {
    /** Handles /__fault; returns true when it answered. */
    control(req, url, res) {
      const repo = url.searchParams.get("repo");
      const answer = (status, body) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      if (req.method === "GET") return answer(200, Object.fromEntries(faults));
      if (req.method === "DELETE") {
        if (repo) faults.delete(repo);
        else faults.clear();
        return answer(200, Object.fromEntries(faults));
      }
      if (req.method !== "POST") return answer(405, { error: "GET, POST or DELETE" });
      const mode = url.searchParams.get("mode") ?? "";
      const match = url.searchParams.get("match") ?? "all";
      const method = url.searchParams.get("method") ?? undefined;
      const times = url.searchParams.has("times") ? Number(url.searchParams.get("times")) : Infinity;
      if (!repo || !isMode(mode)) return answer(400, { error: `repo and a known mode are required (got repo=${repo} mode=${mode})` });
      if (!["all", "blobs", "manifests"].includes(match)) return answer(400, { error: `match must be all, blobs or manifests (got ${match})` });
      if (!(times > 0)) return answer(400, { error: `times must be positive (got ${url.searchParams.get("times")})` });
      const rate = Number(url.searchParams.get("rate") ?? 1024 * 1024);
      if (!(rate > 0)) return answer(400, { error: `rate must be positive (got ${url.searchParams.get("rate")})` });
      faults.set(repo, { mode, match, method, times, rate, message: url.searchParams.get("message") ?? undefined, chunked: url.searchParams.get("chunked") === "1" });
      return answer(200, Object.fromEntries(faults));
    },
    /** The fault that applies to a /v2 request, if any (counts down `times`). */
    take(method, pathname) {
      for (const [repo, fault] of faults) {
        const prefix = `/v2/${repo}/`;
        if (!pathname.startsWith(prefix)) continue;
        const rest = pathname.slice(prefix.length);
        if (fault.match === "blobs" && !rest.startsWith("blobs/")) continue;
        if (fault.match === "manifests" && !rest.startsWith("manifests/")) continue;
        if (fault.method && fault.method !== method) continue;
        fault.times -= 1;
        if (fault.times <= 0) faults.delete(repo);
        return fault;
      }
      return undefined;
    },
  };
}

/** A logging, fault-injecting proxy in front of `target`. */
export async function startFront({ name, target, cdnUrl, log }) {
  const timers = new Set();
  const faults = createFaults();
  const hold = (res, fn = () => res.socket?.destroy()) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, HOLD_MS);
    timers.add(timer);
    res.on("close", () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://front");
    if (url.pathname === "/__log") return serveLog(log, url, res);
    if (url.pathname === "/__fault") return faults.control(req, url, res);
    log.record({ server: name, method: req.method, path: url.pathname, auth: req.headers.authorization?.split(" ")[0], ...(req.headers.range ? { range: req.headers.range } : {}) });

    let mode;
    let path = req.url;
    const match = /^\/v2\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (match && (MODES.has(match[1]) || /^status-\d{3}$/.test(match[1]))) {
      mode = match[1];
      path = `/v2/${match[2]}${url.search}`;
    }
    let message;
    let chunked = false;
    let rate;
    if (!mode) ({ mode, message, chunked = false, rate } = faults.take(req.method, url.pathname) ?? {});
    if (mode === "drop") return req.socket.destroy();
    const same = /^\/__blob\/(.+)$/.exec(url.pathname);
    if (same) path = `/v2/${same[1]}`;
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);

    if (mode?.startsWith("status-")) {
      const status = Number(mode.slice(7));
      const headers = { "Content-Type": "application/json", ...RATE_LIMIT };
      if (status === 429) Object.assign(headers, { "Retry-After": "17", "ratelimit-remaining": "0;w=21600" });
      if (status === 503) headers["Retry-After"] = "5";
      res.writeHead(status, headers);
      res.end(req.method === "HEAD" ? undefined : JSON.stringify({ errors: [{ code: "INJECTED", message: message ?? `injected ${status} by the test proxy` }] }));
      return;
    }
    if (mode === "slow-headers") return hold(res);
    if (mode === "redirect-ftp") return res.writeHead(307, { Location: "ftp://127.0.0.1/blob" }).end();
    if (mode === "redirect-loop") return res.writeHead(302, { Location: req.url }).end();

    let upstream;
    try {
      upstream = await forward(req, target, path);
    } catch (error) {
      res.writeHead(502).end(String(error));
      return;
    }
    const headers = { ...upstream.headers, ...RATE_LIMIT };
    if (blob && (req.method === "GET" || req.method === "HEAD") && upstream.statusCode === 200 && (mode === "cdn" || mode === "same-origin-redirect")) {
      upstream.resume();
      const location = mode === "cdn" ? `${cdnUrl}/blobs/${blob[1]}/${blob[2]}?signature=test` : `/__blob/${blob[1]}/blobs/${blob[2]}`;
      res.writeHead(307, { Location: location, ...RATE_LIMIT }).end();
      return;
    }
    if (mode === "no-digest") delete headers["docker-content-digest"];
    if (mode === "no-length" || chunked) delete headers["content-length"];
    if (mode === "corrupt" && upstream.statusCode === 200 && req.method === "GET") {
      const body = await readBody(upstream);
      if (body.length) body[0] ^= 0xff;
      res.writeHead(200, headers).end(body);
      return;
    }
    if ((mode === "truncated" || mode === "slow-body") && (upstream.statusCode === 200 || upstream.statusCode === 206) && req.method === "GET") {
      const length = Number(upstream.headers["content-length"]);
      const keep = mode === "truncated" ? Math.floor(length / 2) : Math.min(1024, length - 1);
      const body = await readBody(upstream);
      res.writeHead(upstream.statusCode, headers);
      // truncated: every byte sent is delivered, then the connection ends (a reset could make
      // the client lose bytes still in its buffers, and the cut would not be where we say).
      if (mode === "truncated") res.write(body.subarray(0, keep), () => res.socket?.end());
      else {
        res.write(body.subarray(0, keep));
        hold(res);
      }
      return;
    }
    res.writeHead(upstream.statusCode, headers);
    if (mode === "trickle") return trickle(upstream, res, rate);
    upstream.pipe(res);
  });
  const url = await listen(server);
  return {
    url,
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Copies `source` to `res` at no more than `rate` bytes per second (pieces of a tenth of a second). */
async function trickle(source, res, rate) {
  const step = Math.max(1, Math.floor(rate / 10));
  const started = Date.now();
  let sent = 0;
  let gone = false;
  res.on("close", () => {
    gone = true;
    source.destroy();
  });
  try {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.length && !gone; at += step) {
        const piece = chunk.subarray(at, at + step);
        res.write(piece);
        sent += piece.length;
        const ahead = started + (sent / rate) * 1000 - Date.now();
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
      }
      if (gone) return;
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/** The "CDN" a blob redirect points to: refuses Authorization, serves blobs from `origin`. */
export async function startCdn({ origin, log }) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://cdn");
    if (url.pathname === "/__log") return serveLog(log, url, res);
    log.record({ server: "cdn", method: req.method, path: url.pathname, auth: req.headers.authorization?.split(" ")[0] });
    if (req.headers.authorization) {
      res.writeHead(400, { "Content-Type": "application/xml" });
      res.end("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>");
      return;
    }
    const match = /^\/blobs\/(.+)\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (!match) return res.writeHead(404).end();
    try {
      const upstream = await plainRequest(req.method, `${origin}/v2/${match[1]}/blobs/${match[2]}`);
      res.writeHead(upstream.statusCode, { "content-type": "application/octet-stream", "content-length": upstream.headers["content-length"] });
      upstream.pipe(res);
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  const url = await listen(server);
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
