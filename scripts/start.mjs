#!/usr/bin/env node
// `npm start`: Berth on 127.0.0.1:$PORT (default 8787), plain HTTP and TLS on the same port.
//
//   PORT=9000 npm start                 another port (or: npm start -- --port 9000)
//   npm start -- --var MIRROR_MODE:true  any other argument goes to `wrangler dev`
//                                        (AUTH_MODE is open unless --var AUTH_MODE:required)
//                                        (--persist-to DIR replaces .wrangler/state)
//
// Runs `wrangler dev` (local R2 and Durable Objects, state in .wrangler/state) on an internal
// port and the front of scripts/front.mjs on the public one: TLS clients (skopeo, podman, the
// docker CLI) get a self-signed certificate (.wrangler/tls/cert.pem) at once instead of waiting
// 10 s for a handshake, browsers and curl get plain HTTP. Ctrl-C stops everything: wrangler runs
// in its own process group, which is stopped as a whole (workerd included).

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { request } from "node:http";
import { startFront } from "./front.mjs";
import { freePort, killGroup } from "./processes.mjs";
import { localCert } from "./self-signed-cert.mjs";
import { wranglerDevEnv } from "./wrangler-env.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";

/** PORT, or --port N / --port=N among the arguments (removed from what wrangler gets). */
function parseArguments(argv) {
  const rest = [];
  let port = process.env.PORT || "8787";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") port = argv[++i] ?? "";
    else if (arg.startsWith("--port=")) port = arg.slice("--port=".length);
    else rest.push(arg);
  }
  const number = Number(port);
  if (!/^\d+$/.test(port) || number < 1 || number > 65535) {
    console.error(`error: the port must be a number from 1 to 65535, not "${port}" (PORT=9000 npm start)`);
    process.exit(2);
  }
  return { port: number, wranglerArgs: rest };
}

/**
 * The quick start runs without access control (AUTH_MODE=open, announced loudly by the Worker);
 * `npm start -- --var AUTH_MODE:required` tries the deployed behaviour (with TOKEN_SIGNING_KEY in .dev.vars).
 */
function openMode(wranglerArgs) {
  return wranglerArgs.some((arg) => arg.includes("AUTH_MODE:")) ? [] : ["--var", "AUTH_MODE:open"];
}

/** Resolves once wrangler dev answers any HTTP request on its port. */
function waitForHttp(port, wrangler) {
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      if (wrangler.exitCode !== null || wrangler.signalCode !== null) return reject(new Error("wrangler dev exited"));
      const probe = request({ host: HOST, port, path: "/v2/", timeout: 2000 }, (response) => {
        response.resume();
        resolvePromise();
      });
      probe.on("timeout", () => probe.destroy());
      probe.on("error", () => setTimeout(attempt, 250));
      probe.end();
    };
    attempt();
  });
}

/**
 * wrangler's lines name its internal port; show the public one instead. Its hint for the cron
 * trigger (/cdn-cgi/handler/scheduled) works through the front (see rewritePath).
 */
function relay(stream, out, internalPort, publicPort) {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const internal = new RegExp(`(127\\.0\\.0\\.1|localhost):${internalPort}\\b`, "g");
  lines.on("line", (line) => out.write(`${line.replace(internal, `${HOST}:${publicPort}`)}\n`));
}

/**
 * wrangler 4.86 with static assets forwards the scheduled event to the Worker over RPC and fails
 * (DataCloneError: Could not serialize object of type "ScheduledController"), so the URL it
 * prints answers 500; `--test-scheduled` runs the same handler in-process at /__scheduled.
 */
function rewritePath(path) {
  return path.startsWith("/cdn-cgi/handler/scheduled") ? `/__scheduled${path.slice("/cdn-cgi/handler/scheduled".length)}` : path;
}

async function main() {
  const { port, wranglerArgs } = parseArguments(process.argv.slice(2));
  const bin = join(ROOT, "node_modules", ".bin", "wrangler");
  if (!existsSync(bin)) {
    console.error("error: wrangler is not installed: run `npm install` first");
    process.exit(1);
  }
  const tls = localCert(join(ROOT, ".wrangler", "tls"));
  const internalPort = await freePort();
  const persist = wranglerArgs.some((arg) => arg.startsWith("--persist-to")) ? [] : ["--persist-to", join(ROOT, ".wrangler", "state")];
  const wrangler = spawn(
    bin,
    ["dev", "--ip", HOST, "--port", String(internalPort), ...persist, "--test-scheduled", "--show-interactive-dev-session=false", ...openMode(wranglerArgs), ...wranglerArgs],
    {
      cwd: ROOT,
      detached: true, // its own process group, stopped as a whole (workerd too)
      stdio: ["ignore", "pipe", "pipe"],
      env: { WRANGLER_SEND_METRICS: "false", ...(process.stdout.isTTY ? { FORCE_COLOR: "1" } : {}), ...process.env, ...wranglerDevEnv() },
    },
  );
  relay(wrangler.stdout, process.stdout, internalPort, port);
  relay(wrangler.stderr, process.stderr, internalPort, port);
  console.log(`[berth] wrangler dev (pid ${wrangler.pid}) on internal port ${internalPort}`);

  let front;
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    front?.close();
    await killGroup(wrangler.pid);
    process.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => void stop(0));
  wrangler.on("exit", (code, signal) => {
    if (stopping) return;
    console.error(`[berth] wrangler dev exited (${signal ?? `code ${code}`})`);
    void stop(code || 1);
  });

  const ready = waitForHttp(internalPort, wrangler);
  ready.catch(() => undefined);
  try {
    front = await startFront({ host: HOST, port, upstreamPort: internalPort, tls, ready, rewritePath });
  } catch (error) {
    console.error(
      error.code === "EADDRINUSE"
        ? `error: ${HOST}:${port} is already in use; choose another port: PORT=9000 npm start`
        : `error: cannot listen on ${HOST}:${port}: ${error.message}`,
    );
    return stop(1);
  }
  try {
    await ready;
  } catch {
    return; // the exit handler reports it
  }
  const url = `${HOST}:${front.port}`;
  console.log(
    [
      "",
      `Berth is ready on ${url}: plain HTTP and TLS (self-signed) on the same port.`,
      `  browser, curl     http://${url}/`,
      `  skopeo, podman    --tls-verify=false        docker manifest …  --insecure`,
      `  maintenance now   curl http://${url}/cdn-cgi/handler/scheduled   (the daily cron: retention policies)`,
      `  certificate       ${tls.certPath}`,
      "Ctrl-C stops Berth.",
      "",
    ].join("\n"),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
