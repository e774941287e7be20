#!/usr/bin/env node
// Pins container image references to digests with Berth's resolve API — the script behind
// action.yml. No dependencies: Node 18+ (fetch). GitHub's conventions:
//   inputs   INPUT_REGISTRY, INPUT_IMAGES (one reference per line), INPUT_PLATFORM, INPUT_TOKEN,
//            INPUT_CA (PEM file to trust), INPUT_INSECURE ("true": no certificate checks)
//   outputs  appended to the file named by GITHUB_OUTPUT (printed as name=value without it):
//            map     JSON object: reference as written → pinned reference
//            digests JSON object: reference as written → digest
//            digest, pinned   only when exactly one image is given
//   summary  a Markdown table appended to GITHUB_STEP_SUMMARY when set
// Each failure is reported as an ::error:: annotation naming the image and Berth's reason; the
// exit code is 1 when any image could not be resolved, 2 when the inputs are unusable.
// Without a platform an image is pinned as it is (a multi-arch index stays multi-arch); with
// one, it is pinned to that platform's manifest.

import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { InputError, applyTrustInputs, escapeData, escapeProperty, input, mask, registryUrl, setOutputs, untrustedCertificate } from "./workflow.mjs";

const ATTEMPTS = 3;
const TIMEOUT_MS = Number(process.env.BERTH_TIMEOUT_MS || 30_000);
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

function imageList(raw) {
  const images = raw
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  if (images.length === 0) throw new InputError("input `images` lists no image: give one reference per line, e.g. nginx:1.27");
  return [...new Set(images)];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One resolve request, retried on network errors and 408/429/5xx. Returns {answer} or {error}. */
async function resolveOne(registry, image, platform, token) {
  const query = new URLSearchParams({ ref: image });
  if (platform) query.set("platform", platform);
  const url = `${registry}/api/v1/resolve?${query}`;
  const headers = { Accept: "application/json", "User-Agent": "berth-pin-action" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let last = "no attempt made";
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    let response;
    try {
      response = await fetch(url, { headers, redirect: "follow", signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (error) {
      const untrusted = untrustedCertificate(error, registry);
      if (untrusted) return { error: untrusted };
      const cause = error?.cause?.code || error?.cause?.message || error?.message || String(error);
      last = error?.name === "TimeoutError" ? `no answer from ${registry} within ${TIMEOUT_MS / 1000} s` : `cannot reach ${registry}: ${cause}`;
      if (attempt < ATTEMPTS) await sleep(1000 * attempt);
      continue;
    }
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.ok && body && typeof body.digest === "string") return { answer: body };
    last = describeFailure(response, body, text, registry);
    if (!RETRYABLE.has(response.status) || attempt === ATTEMPTS) break;
    const retryAfter = Number(response.headers.get("retry-after"));
    await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 10) * 1000 : 1000 * attempt);
  }
  return { error: last };
}

function describeFailure(response, body, text, registry) {
  const first = body?.errors?.[0];
  if (first) {
    const available = Array.isArray(first.detail?.available) && first.detail.available.length ? ` (available: ${first.detail.available.join(", ")})` : "";
    const message = String(first.message ?? "");
    return `${first.code}: ${message}${available && !message.includes("available:") ? available : ""} [HTTP ${response.status}]`;
  }
  if (response.ok) return `unexpected answer from ${registry} (no digest in it): is this Berth's URL?`;
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return `HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ""}`;
}

function writeSummary(rows, platform) {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (!file) return;
  const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    `### Images pinned by Berth${platform ? ` for ${cell(platform)}` : ""}`,
    "",
    "| Image | Pinned | Platform |",
    "| --- | --- | --- |",
    ...rows.map((r) => (r.error ? `| \`${cell(r.image)}\` | ❌ ${cell(r.error)} | |` : `| \`${cell(r.image)}\` | \`${cell(r.pinned)}\` | ${cell(r.platform)} |`)),
    "",
  ];
  appendFileSync(file, `${lines.join("\n")}\n`);
}

async function main() {
  const rerun = applyTrustInputs(fileURLToPath(import.meta.url));
  if (rerun !== undefined) return rerun;
  const registry = registryUrl(input("registry")).toString().replace(/\/+$/, "");
  const images = imageList(input("images"));
  const platform = input("platform");
  const token = input("token");
  mask(token);

  const rows = await Promise.all(
    images.map(async (image) => {
      const { answer, error } = await resolveOne(registry, image, platform, token);
      if (error) return { image, error };
      const pick = platform ? answer.manifest : answer;
      const chosen = answer.manifest?.platform ?? "";
      const shown = answer.isIndex ? `${chosen || "?"} of ${answer.platforms?.length ?? "?"} platforms` : chosen || "single image";
      return { image, pinned: pick.pinned, digest: pick.digest, platform: platform ? chosen : answer.isIndex ? "multi-arch index" : chosen, shown, warning: answer.warning };
    }),
  );

  const map = {};
  const digests = {};
  for (const row of rows) {
    if (row.error) {
      console.log(`::error title=${escapeProperty(`Berth could not resolve ${row.image}`)}::${escapeData(`${row.image}: ${row.error}`)}`);
      continue;
    }
    map[row.image] = row.pinned;
    digests[row.image] = row.digest;
    console.log(`${row.image} → ${row.pinned} (${row.shown})`);
    if (row.warning) console.log(`::warning title=${escapeProperty(`Berth: ${row.image}`)}::${escapeData(row.warning)}`);
  }
  const outputs = { map: JSON.stringify(map), digests: JSON.stringify(digests) };
  const only = rows.length === 1 ? rows[0] : undefined;
  if (only && !only.error) Object.assign(outputs, { digest: only.digest, pinned: only.pinned });
  setOutputs(outputs);
  writeSummary(rows, platform);

  const failed = rows.filter((r) => r.error);
  if (failed.length) {
    console.error(`${failed.length} of ${rows.length} image${rows.length === 1 ? "" : "s"} could not be resolved by ${registry}:`);
    for (const row of failed) console.error(`  ${row.image}: ${row.error}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    const message = error instanceof InputError ? error.message : `unexpected failure: ${error?.stack || error}`;
    console.log(`::error title=Berth pin action::${escapeData(message)}`);
    console.error(message);
    process.exit(error instanceof InputError ? 2 : 1);
  },
);
