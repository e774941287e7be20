// AUTH_MODE=open: everybody may do everything. Only for a registry on your own
// machine (`npm start` sets it); it says so at startup and, while /v2/ requests come in, in a
// warning line at least every WARN_INTERVAL_MS. Not one line per request: under wrangler dev
// every log line crosses to wrangler's Node process, ~0.8 ms of its CPU per line, about half of
// what workerd spends on a manifest GET (bench/: such GETs ran at 0.6× the bare Worker's rate).

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

/** Least time between two warning lines. */
export const WARN_INTERVAL_MS = 10_000;
let lastWarning = -Infinity;
/** /v2/ requests since the last warning line. */
let unmentioned = 0;

export function warnOpen(request: Request): void {
  announce();
  const url = new URL(request.url);
  if (url.pathname !== "/v2" && !url.pathname.startsWith("/v2/")) return;
  unmentioned++;
  const now = Date.now();
  if (now - lastWarning < WARN_INTERVAL_MS) return;
  const others = unmentioned - 1;
  console.warn(`berth OPEN MODE (no authentication): ${request.method} ${url.pathname}${others > 0 ? ` and ${others} more /v2/ request${others > 1 ? "s" : ""} since the last warning` : ""}`);
  lastWarning = now;
  unmentioned = 0;
}
