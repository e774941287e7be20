// Berth's web UI: a read-only view over the JSON API (/api/v1). Plain DOM, no
// build step; every value is inserted as text, never as HTML.

const view = document.getElementById("view");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.errors?.[0]?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const short = (digest) => (digest ? digest.replace(/^(sha\d+:)(.{12}).*$/, "$1$2") : "–");
const when = (iso) => new Date(iso).toLocaleString();
const table = (headings, rows) => el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
const failure = (error) => el("p", { class: "error", role: "alert" }, error.message);

function resolveForm() {
  const output = el("div", { class: "result", hidden: "" });
  const ref = el("input", { name: "ref", placeholder: "nginx:1.27 or team/app:dev", required: "" });
  const platform = el("input", { name: "platform", placeholder: "linux/amd64 (default)" });
  const form = el("form", { onsubmit: async (event) => {
    event.preventDefault();
    output.hidden = false;
    output.replaceChildren("Resolving…");
    const query = new URLSearchParams({ ref: ref.value.trim() });
    if (platform.value.trim()) query.set("platform", platform.value.trim());
    try {
      const answer = await api(`/api/v1/resolve?${query}`);
      output.replaceChildren(
        el("div", {}, "Digest: ", el("code", { class: "resolved-digest" }, answer.digest)),
        el("div", {}, "Pinned: ", el("code", { class: "resolved-pinned" }, answer.manifest?.pinned ?? answer.pinned)),
        answer.platforms?.length ? el("div", {}, "Platforms: ", answer.platforms.map((p) => el("span", { class: "pill" }, p.platform))) : null,
        answer.manifest ? el("div", {}, `Size: ${bytes(answer.manifest.totalSize)} in ${answer.manifest.layers.length} layer(s)`) : null,
      );
    } catch (error) {
      output.replaceChildren(failure(error));
    }
  } }, ref, platform, el("button", { type: "submit" }, "Resolve"));
  return el("section", {}, el("h2", {}, "Resolve an image"), form, output);
}

async function home() {
  const [repositories, upstreams] = await Promise.all([api("/api/v1/repositories?n=200"), api("/api/v1/upstreams").catch(() => ({ upstreams: [] }))]);
  const rows = repositories.repositories.map((repo) => {
    const usage = el("td", { class: "muted" }, "…");
    api(`/api/v1/repositories/${repo.name}/usage`).then(
      (u) => usage.replaceChildren(`${bytes(u.uniqueBytes)} unique · ${bytes(u.sharedBytes)} shared`),
      () => usage.replaceChildren("–"),
    );
    return el("tr", {}, el("td", {}, el("a", { href: `#/repo/${repo.name}` }, repo.name)), el("td", {}, repo.kind), usage);
  });
  view.replaceChildren(
    resolveForm(),
    el("section", {}, el("h2", {}, "Repositories"),
      rows.length ? table(["Repository", "Kind", "Storage"], rows) : el("p", { class: "muted" }, "No repositories yet. Push one: skopeo copy … docker://HOST/team/app:v1")),
    el("section", {}, el("h2", {}, "Upstream registries"), table(["Upstream", "URL", "Cache hits / misses", "Upstream requests", "Rate limit", "Last error"],
      upstreams.upstreams.map((u) => el("tr", {},
        el("td", {}, u.name), el("td", {}, el("code", {}, u.url)),
        el("td", {}, `${u.stats.cacheHits} / ${u.stats.cacheMisses}`),
        el("td", {}, Object.entries(u.stats.requests).map(([kind, n]) => el("span", { class: "pill" }, `${kind} ${n}`))),
        el("td", {}, u.stats.rateLimit ? `${u.stats.rateLimit.remaining} of ${u.stats.rateLimit.limit} left` : "–"),
        el("td", { class: u.stats.lastError ? "error" : "muted" }, u.stats.lastError?.message ?? "–"),
      )))),
  );
}

async function repository(name) {
  const [tags, history] = await Promise.all([api(`/api/v1/repositories/${name}/tags?n=100`), api(`/api/v1/repositories/${name}/history?n=50`).catch(() => ({ history: [] }))]);
  view.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← all repositories")),
    el("h1", {}, name, " ", el("span", { class: "pill" }, tags.kind)),
    el("section", {}, el("h2", {}, "Tags"), table(["Tag", "Digest", "Platforms", "Size", "Updated"],
      tags.tags.map((t) => el("tr", { "data-tag": t.tag ?? "" },
        el("td", {}, t.tag ?? el("span", { class: "muted" }, "(untagged)")),
        el("td", {}, el("code", { class: "digest", title: t.digest }, short(t.digest))),
        el("td", {}, t.platforms.map((p) => el("span", { class: "pill" }, p))),
        el("td", {}, bytes(t.size)),
        el("td", {}, when(t.updatedAt)),
      )))),
    el("section", {}, el("h2", {}, "Tag history"), history.history.length
      ? table(["When", "Tag", "Change"], history.history.map((h) => el("tr", {},
          el("td", {}, when(h.at)), el("td", {}, h.tag),
          el("td", {}, `${h.action}: `, el("code", {}, short(h.previousDigest)), " → ", el("code", {}, short(h.newDigest))))))
      : el("p", { class: "muted" }, "No tag moves recorded.")),
  );
}

async function route() {
  const match = /^#\/repo\/(.+)$/.exec(location.hash);
  try {
    if (match) await repository(decodeURIComponent(match[1]));
    else await home();
  } catch (error) {
    view.replaceChildren(failure(error));
  }
}

addEventListener("hashchange", route);
route();
