// Turns bench/run.mjs's results into the summary (Berth against the bare Worker and against
// distribution, with the targets of issue #11), a Markdown report and an SVG chart — plain
// strings, no dependency.

const fmt = (n, digits = 1) => (typeof n === "number" && Number.isFinite(n) ? n.toFixed(digits) : "–");
const SERVERS = ["distribution", "bare", "berth", "berth-open"];
const LABEL = { distribution: "docker-registry 2.8", bare: "bare Worker", berth: "Berth", "berth-open": "Berth, open mode" };

/**
 * One row per headline figure. ratio = Berth ÷ baseline; `target` says which way is good:
 * {atLeast} for rates, {atMost} for times and memory.
 */
export function summarize(results) {
  const transfer = (server, phase) => results.transfers.find((t) => t.server === server && t.phase === phase);
  const requests = (server, name, concurrency) => results.requests.find((r) => r.server === server && r.name === name && r.concurrency === concurrency);
  const rows = [];
  const row = (metric, unit, values, target, baseline = "bare") => {
    const ratio = (other) => (Number.isFinite(values.berth) && Number.isFinite(other) && other > 0 ? values.berth / other : NaN);
    const vsBare = ratio(values[baseline]);
    const met = !target || !Number.isFinite(vsBare) ? null : target.atLeast !== undefined ? vsBare >= target.atLeast : vsBare <= target.atMost;
    rows.push({ metric, unit, ...values, vsBare, vsDistribution: ratio(values.distribution), target: target ? (target.atLeast !== undefined ? `≥ ${target.atLeast}× bare` : `≤ ${target.atMost}× ${target.of ?? "bare"}`) : "", met });
  };
  const mbps = (server, phase) => transfer(server, phase)?.mbps;
  row("pull (GET of one blob)", "MB/s", { distribution: mbps("distribution", "pull"), bare: mbps("bare", "pull"), berth: mbps("berth", "pull") }, { atLeast: 0.95 });
  // the bare Worker has no multipart objects: no ratio
  row("pull of the blob pushed in one PATCH (multipart parts in Berth)", "MB/s", { distribution: mbps("distribution", "pull-patched"), berth: mbps("berth", "pull-patched") }, null);
  row("push, one PUT with the whole blob", "MB/s", { distribution: mbps("distribution", "push-put"), bare: mbps("bare", "push-put"), berth: mbps("berth", "push-put") }, { atLeast: 0.8 });
  // the bare Worker cannot take a body of unknown length (R2 wants a length): compare with its PUT
  row("push, one PATCH of unknown length + PUT", "MB/s", { distribution: mbps("distribution", "push-patch"), bare: mbps("bare", "push-put"), berth: mbps("berth", "push-patch") }, { atLeast: 0.8 });
  for (const [name, concurrency] of [
    ["manifest GET by tag", 1],
    ["manifest GET by digest", 1],
    ["manifest GET by tag", 32],
    ["manifest GET by digest", 32],
    ["manifest HEAD by tag", 32],
    ["manifest HEAD by digest", 32],
  ]) {
    const rps = (server) => requests(server, name, concurrency)?.rps;
    row(`${name}, ${concurrency} connection${concurrency > 1 ? "s" : ""}`, "req/s", { distribution: rps("distribution"), bare: rps("bare"), berth: rps("berth") }, { atLeast: 0.9 });
  }
  // the same request to Berth as `npm start` runs it: no authentication
  if (results.requests.some((r) => r.server === "berth-open")) {
    const rps = (server) => requests(server, "manifest GET by tag", 32)?.rps;
    row("manifest GET by tag, 32 connections, open mode (npm start)", "req/s", { distribution: rps("distribution"), bare: rps("bare"), berth: rps("berth-open") }, { atLeast: 0.9 });
  }
  const resolve1 = requests("berth", "resolve API", 1);
  const resolve32 = requests("berth", "resolve API", 32);
  row("resolve API, 1 connection: p50 latency", "ms", { berth: resolve1?.p50 }, null);
  row("resolve API, 32 connections", "req/s", { berth: resolve32?.rps }, null);

  const rounds = results.pullThrough;
  const mean = (pick) => (rounds.length ? rounds.reduce((sum, r) => sum + pick(r), 0) / rounds.length : NaN);
  const bareWriteMbps = mbps("bare", "push-put");
  const direct = mean((r) => r.direct.seconds);
  const floor = mean((r) => r.direct.seconds + r.bytes / 1e6 / bareWriteMbps);
  row("cold pull-through of a multi-arch image (s)", "s", { distribution: direct, bare: floor, berth: mean((r) => r.cold.seconds) }, { atMost: 1.15, of: "(direct + bare R2 write)" });
  // a single layer filled cold: its MB/s against the bare Worker's streaming put (the R2 write it must do)
  const filled = rounds.filter((r) => r.fill);
  const fillMbps = (pick) => (filled.length ? filled.reduce((sum, r) => sum + r.fill.bytes / 1e6 / pick(r).seconds, 0) / filled.length : NaN);
  row(`cold cache fill of one ${fmt(results.meta.fillMiB, 0)} MiB layer (one GET)`, "MB/s", { distribution: fillMbps((r) => r.fillDirect), bare: bareWriteMbps, berth: fillMbps((r) => r.fill) }, { atLeast: 0.8 });
  row("warm pull-through (s)", "s", { distribution: direct, berth: mean((r) => r.warm.seconds) }, null);
  row("upstream requests: direct / cold / warm", "requests", { distribution: mean((r) => r.direct.upstream), bare: mean((r) => r.cold.upstream), berth: mean((r) => r.warm.upstream) }, null);
  // memory: the highest RSS during the phases, above the RSS before the first of them (the pushes
  // run first: memory that workerd kept after them is not the pulls' doing)
  const grew = (server, phases) => {
    const own = results.transfers.filter((t) => t.server === server && phases.includes(t.phase));
    return own.length ? Math.max(...own.map((t) => t.peakRssMiB)) - own[0].idleRssMiB : NaN;
  };
  for (const [what, phases] of [["push", ["push-put", "push-patch"]], ["pull", ["pull", "pull-patched"]]]) {
    const label = `workerd memory during a ${fmt(results.meta.blobMiB, 0)} MiB ${what}, above the RSS before it`;
    row(label, "MiB", { distribution: grew("distribution", phases), bare: grew("bare", phases), berth: grew("berth", phases) }, null);
  }
  const last = rows.at(-1);
  const pushMemory = rows.at(-2);
  for (const r of [pushMemory, last]) {
    r.vsDistribution = NaN; // a Go process on a filesystem: no like-for-like ratio
    r.target = "≤ 128 MiB";
    r.met = Number.isFinite(r.berth) ? r.berth <= 128 : null;
  }
  const upstream = rows.find((r) => r.metric.startsWith("upstream requests"));
  upstream.target = "warm = 0";
  upstream.met = Number.isFinite(upstream.berth) ? upstream.berth === 0 : null;
  upstream.vsBare = NaN;
  upstream.vsDistribution = NaN;
  return rows;
}

function cell(value, unit) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return fmt(value, unit === "requests" ? 0 : unit === "ms" || unit === "s" ? 2 : 0);
}

export function markdown(results) {
  const m = results.meta;
  const lines = [
    "# Berth benchmark results",
    "",
    `Generated by \`npm run bench${m.quick ? " -- --quick" : ""}\` — figures for this machine only; rerun it on yours.`,
    "",
    `- date: ${m.date}; commit ${m.commit}; ${m.machine}; node ${m.node}; wrangler ${m.wrangler}${m.loadAverage ? `; load average (1 min) ${fmt(m.loadAverage.start, 2)} at the start, ${fmt(m.loadAverage.end, 2)} at the end` : ""}`,
    `- all three servers on 127.0.0.1, plain HTTP: Berth and the bare Worker (bench/bare/) under \`wrangler dev\` with local R2, docker-registry ${m.distribution} on its filesystem`,
    ...(m.berthAuth ? [`- Berth ${m.berthAuth}`] : []),
    `- blob: ${m.blobMiB} MiB of pseudo-random bytes${m.pullRuns > 1 ? ` (pulls: the best of ${m.pullRuns})` : ""}; manifests: ${m.requestsC1} requests at 1 connection, ${m.requestsC32} at 32; pull-through: ${m.platforms} platforms × ${m.layers} layers of ${m.layerMiB} MiB, blobs 3 at a time, ${m.rounds} round(s)`,
    ...(m.merged ? [`- ${m.merged.parts.join(", ")}: recorded by the run of ${m.merged.from.date} (commit ${m.merged.from.commit}), not re-measured in this one`] : []),
    "- MB = 10^6 bytes; memory = VmRSS of the largest workerd process (which also simulates R2 locally), sampled every 50 ms",
    "",
    "## Summary (Berth ÷ baseline; the targets are issue #11's)",
    "",
    "![Berth against the bare Worker](results.svg)",
    "",
    "| figure | unit | docker-registry | bare Worker | Berth | Berth ÷ bare | Berth ÷ registry | target | met |",
    "|---|---|---:|---:|---:|---:|---:|---|---|",
    ...results.summary.map(
      (r) =>
        `| ${r.metric} | ${r.unit} | ${cell(r.distribution, r.unit)} | ${cell(r.bare, r.unit)} | ${cell(r.berth, r.unit)} | ${fmt(r.vsBare, 2)} | ${fmt(r.vsDistribution, 2)} | ${r.target} | ${r.met === null ? "" : r.met ? "yes" : "**no**"} |`,
    ),
    "",
    "In the pull-through rows the registry column is the direct pull from the upstream and the bare",
    "column is (direct pull + the time the bare Worker needs to write the same bytes to R2); in the",
    "cache-fill row the registry column is the direct GET and the bare column the bare Worker's PUT;",
    "in the upstream-requests row the columns are direct / cold / warm.",
    "",
    "## Transfers",
    "",
    "| server | phase | MB | s | MB/s | idle RSS (MiB) | peak RSS (MiB) |",
    "|---|---|---:|---:|---:|---:|---:|",
    ...results.transfers.map((t) => `| ${LABEL[t.server]} | ${t.phase} | ${fmt(t.bytes / 1e6, 0)} | ${fmt(t.seconds, 2)} | ${fmt(t.mbps)} | ${fmt(t.idleRssMiB, 0)} | ${fmt(t.peakRssMiB, 0)} |`),
    "",
    "## Requests",
    "",
    "| server | request | connections | req/s | p50 (ms) | p99 (ms) | failed |",
    "|---|---|---:|---:|---:|---:|---:|",
    ...[...results.requests].sort((a, b) => SERVERS.indexOf(a.server) - SERVERS.indexOf(b.server)).map((r) => `| ${LABEL[r.server]} | ${r.name} | ${r.concurrency} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.errors ?? 0} |`),
    "",
    "## Pull-through (cache on Berth, docker-registry as the upstream)",
    "",
    "| round | MB | direct (s) | cold (s) | warm (s) | upstream requests direct / cold / warm | one layer: direct (s) | one layer: cold fill (s) |",
    "|---:|---:|---:|---:|---:|---|---:|---:|",
    ...results.pullThrough.map(
      (r) =>
        `| ${r.round} | ${fmt(r.bytes / 1e6, 0)} | ${fmt(r.direct.seconds, 2)} | ${fmt(r.cold.seconds, 2)} | ${fmt(r.warm.seconds, 2)} | ${r.direct.upstream} / ${r.cold.upstream} / ${r.warm.upstream} | ${fmt(r.fillDirect?.seconds, 2)} | ${fmt(r.fill?.seconds, 2)} |`,
    ),
    "",
    ...(results.failures.length ? ["## Failures", "", ...results.failures.map((f) => `- ${f}`), ""] : []),
  ];
  return lines.join("\n");
}

const escape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars of Berth ÷ bare per figure, a line at 1 and a tick at the target. */
export function svg(results) {
  const rows = results.summary.filter((r) => Number.isFinite(r.vsBare) && r.target.includes("×"));
  const width = 760;
  const labelWidth = 330;
  const barWidth = width - labelWidth - 70;
  const rowHeight = 26;
  const top = 46;
  const height = top + rows.length * rowHeight + 30;
  const max = Math.max(1.5, ...rows.map((r) => Math.min(r.vsBare, 3)));
  const x = (ratio) => labelWidth + (Math.min(ratio, max) / max) * barWidth;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Berth ÷ bare Worker (same wrangler, workerd and local R2)</text>`,
    `<text x="10" y="36" fill="#555">${escape(`${results.meta.quick ? "QUICK RUN (sizes too small to judge) — " : ""}${results.meta.date.slice(0, 10)}, ${results.meta.machine}; ▮ target; rates: higher is better, times: lower`)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    const good = r.met === null ? "#7a8fa6" : r.met ? "#3c8d5a" : "#c0533a";
    parts.push(`<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${escape(r.metric)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 5}" width="${Math.max(1, x(r.vsBare) - labelWidth)}" height="${rowHeight - 10}" fill="${good}"/>`);
    parts.push(`<text x="${x(r.vsBare) + 4}" y="${y + 16}">${fmt(r.vsBare, 2)}×</text>`);
    const target = /([\d.]+)×/.exec(r.target)?.[1];
    if (target) parts.push(`<rect x="${x(Number(target)) - 1.5}" y="${y + 2}" width="3" height="${rowHeight - 4}" fill="#222"/>`);
  });
  const one = x(1);
  parts.push(`<line x1="${one}" y1="${top - 2}" x2="${one}" y2="${top + rows.length * rowHeight}" stroke="#999" stroke-dasharray="3,3"/>`);
  parts.push(`<text x="${one}" y="${height - 10}" text-anchor="middle" fill="#555">1× (bare)</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
