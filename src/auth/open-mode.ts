// AUTH_MODE=open: everybody may do everything. Only for a registry on your own
// machine (`npm start` sets it); it says so at startup and on every /v2/ request (issue #9 asks
// for it in every /v2/ answer's log line). Under wrangler dev each line costs wrangler's Node
// process ~0.8 ms of CPU, so benchmarks measure the deployed default (AUTH_MODE=required).

import { env } from "cloudflare:workers";

const LINES = [
  "BERTH IS RUNNING IN OPEN MODE (AUTH_MODE=open): NO AUTHENTICATION.",
  "Anybody who can reach it may push, pull, delete and run admin jobs.",
  'Never deploy this way; see README "Security".',
];
const WIDTH = Math.max(...LINES.map((line) => line.length)) + 6;
const BANNER = ["", "*".repeat(WIDTH), ...LINES.map((line) => `*  ${line.padEnd(WIDTH - 6)}  *`), "*".repeat(WIDTH), ""].join("\n");

let announced = false;

/** Printed when the Worker starts (module evaluation) and again at the first request. */
function announce(): void {
  if (announced) return;
  announced = true;
  console.warn(BANNER);
}

if ((env as { AUTH_MODE?: unknown } | undefined)?.AUTH_MODE === "open") announce();

export function warnOpen(request: Request): void {
  announce();
  const url = new URL(request.url);
  if (url.pathname === "/v2" || url.pathname.startsWith("/v2/")) {
    console.warn(`berth OPEN MODE (no authentication): ${request.method} ${url.pathname}`);
  }
}
