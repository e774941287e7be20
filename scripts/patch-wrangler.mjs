#!/usr/bin/env node
// Run by `npm install` / `npm ci` (postinstall): fixes a request hang in wrangler 4.86's local
// dev server, which npm start, the e2e suites and the bench all run.
//
// `wrangler dev` answers on a ProxyWorker that forwards each request to the Worker's own workerd
// over a pooled keep-alive connection. Both ends close an idle connection after kj's 5 s; when a
// request is written to a connection at the moment the other end closes it, the forward fails
// with "Network connection lost". Wrangler 4.86 then parks a GET or HEAD in its retry queue —
// meant for reloads, and served only by the next reload or the next incoming request. So a GET
// after ~5 s of quiet hung until some other request arrived: a cold `docker pull` stalled for
// minutes (issue #11), and at a steady 5 s cadence 3 of 12 GETs hung. Wrangler fixed this in
// workers-sdk#15252 (retry GET/HEAD on a fresh connection), in versions that need Node 22; we
// pin 4.86 for Node 20. This backports the fix: a parked GET/HEAD is retried at once, at most
// three times, then answered with wrangler's own 503 "restarted mid-request" — never left waiting.
// Requests with a body were never parked (they get that 503 at once) and are unchanged.
//
// Idempotent (a patched file is recognised); any other wrangler version is left alone with a
// note, since a newer one carries the fix itself.

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PATCHED_VERSION = "4.86.0";
const MARKER = "berth: retried at once";

const ORIGINAL = `        } else if (request.method === "GET" || request.method === "HEAD") {
          this.requestRetryQueue.set(request, deferredResponse);
        } else {`;

const REPLACEMENT = `        } else if ((request.method === "GET" || request.method === "HEAD") && ((this.berthRetries ??= new WeakMap()).get(request) ?? 0) < 3) {
          // ${MARKER} (scripts/patch-wrangler.mjs, backport of workers-sdk#15252): a dropped
          // keep-alive connection, not a reload, parked this request until the next one arrived.
          this.berthRetries.set(request, (this.berthRetries.get(request) ?? 0) + 1);
          this.requestRetryQueue.set(request, deferredResponse);
          this.processQueue();
        } else {`;

function patchProxyWorker(source) {
  if (source.includes(MARKER)) return { source, changed: false };
  const at = source.indexOf(ORIGINAL);
  if (at < 0 || source.indexOf(ORIGINAL, at + 1) >= 0) throw new Error("the ProxyWorker's retry branch is not where wrangler 4.86 has it");
  return { source: source.replace(ORIGINAL, REPLACEMENT), changed: true };
}

function main() {
  const wrangler = join(ROOT, "node_modules", "wrangler");
  const file = join(wrangler, "wrangler-dist", "ProxyWorker.js");
  if (!existsSync(file)) return; // wrangler not installed (e.g. npm ci --omit=dev)
  const { version } = JSON.parse(readFileSync(join(wrangler, "package.json"), "utf8"));
  if (version !== PATCHED_VERSION) {
    console.warn(`patch-wrangler: wrangler ${version} is not ${PATCHED_VERSION}; its ProxyWorker is left as it is (workers-sdk#15252 fixed the hang upstream).`);
    return;
  }
  const { source, changed } = patchProxyWorker(readFileSync(file, "utf8"));
  if (changed) writeFileSync(file, source);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
