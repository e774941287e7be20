// The first page: the resolve box, repositories with a filter, upstream caches.
import { api, repoPath } from "./api.js";
import { pushCommands } from "./commands.js";
import { bytes, digest, el, failure, section, table, when } from "./dom.js";

export async function home(view, query) {
  const results = el("div", { id: "results" });
  const input = el("input", { id: "filter", name: "q", type: "search", value: query, autocomplete: "off", spellcheck: "false",
    placeholder: "team/*  or  dangling=true  reference=team/*:v1*  since=team/app:v1" });
  const form = el("form", { role: "search", onsubmit: (event) => {
    event.preventDefault();
    const q = input.value.trim();
    history.replaceState(null, "", q ? `#/?q=${encodeURIComponent(q)}` : "#/");
    showResults(results, q);
  } }, el("label", { for: "filter" }, "Filter"), input, el("button", { type: "submit" }, "Apply"));
  const upstreams = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(
    resolveBox(),
    section("Repositories", form,
      el("p", { class: "hint muted" }, "A name glob (", el("code", {}, "*"), " one segment, ", el("code", {}, "**"), " any), or docker image ls filters: ",
        el("code", {}, "dangling=true"), ", ", el("code", {}, "reference=team/*:v1*"), ", ", el("code", {}, "before=repo:tag"), ", ", el("code", {}, "since=repo:tag"), "."),
      results),
    section("Upstream caches", upstreams),
  );
  await Promise.all([showResults(results, query), showUpstreams(upstreams)]);
}

async function showResults(container, q) {
  container.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const terms = q.split(/\s+/).filter(Boolean);
  const filters = terms.filter((t) => t.includes("="));
  const globs = terms.filter((t) => !t.includes("="));
  try {
    if (filters.length) {
      if (globs.length && !filters.some((f) => f.startsWith("reference="))) filters.push(`reference=${globs[0]}`);
      const answer = await api(`/api/v1/images?${new URLSearchParams(filters.map((f) => ["filter", f]))}&n=200`);
      container.replaceChildren(imagesTable(answer));
    } else {
      const params = new URLSearchParams({ details: "1", n: "200" });
      if (globs[0]) params.set("pattern", globs[0]);
      const answer = await api(`/api/v1/repositories?${params}`);
      container.replaceChildren(repositoriesTable(answer, Boolean(globs[0])));
    }
  } catch (error) {
    container.replaceChildren(failure(error));
  }
}

function repositoriesTable(answer, filtered) {
  if (!answer.repositories.length) {
    return filtered ? el("p", { class: "muted" }, "No repository matches.")
      : el("div", { class: "empty" }, el("p", {}, "No repositories yet. Push an image to this registry:"), pushCommands());
  }
  const rows = answer.repositories.map((repo) => {
    const storage = el("td", { class: "muted" }, "…");
    api(`/api/v1/repositories/${repoPath(repo.name)}/usage`).then(
      (u) => storage.replaceChildren(`${bytes(u.uniqueBytes)} unique · ${bytes(u.sharedBytes)} shared`),
      () => storage.replaceChildren("–"),
    );
    return el("tr", {},
      el("td", {}, el("a", { href: `#/repo/${repo.name}` }, repo.name)),
      el("td", {}, repo.kind === "cached" ? `cached from ${repo.upstream}` : repo.kind),
      el("td", { class: "num" }, repo.tagCount ?? "–"),
      storage,
      el("td", {}, when(repo.updatedAt)));
  });
  return el("div", {}, table(null, ["Repository", "Kind", "Tags", "Storage", "Last change"], rows),
    answer.next ? el("p", { class: "muted" }, "More repositories follow; narrow the filter.") : null);
}

function imagesTable(answer) {
  if (!answer.images.length) return el("p", { class: "muted" }, "No image matches.");
  return el("div", {}, table(null, ["Repository", "Tag", "Digest", "Last change"], answer.images.map((image) => el("tr", {},
    el("td", {}, el("a", { href: `#/repo/${image.repository}` }, image.repository)),
    el("td", {}, el("a", { href: image.tag ? `#/image/${image.repository}:${image.tag}` : `#/image/${image.repository}@${image.digest}` }, image.tag ?? "<none>")),
    el("td", {}, digest(image.digest)),
    el("td", {}, when(image.updatedAt))))),
  answer.next ? el("p", { class: "muted" }, "More images follow; narrow the filter.") : null);
}

function resolveBox() {
  const output = el("div", { class: "result", hidden: true });
  const ref = el("input", { id: "resolve-ref", name: "ref", placeholder: "nginx:1.27 or team/app:dev", required: true, spellcheck: "false" });
  const platform = el("input", { id: "resolve-platform", name: "platform", placeholder: "linux/amd64 (default)", spellcheck: "false" });
  const form = el("form", { onsubmit: async (event) => {
    event.preventDefault();
    output.hidden = false;
    output.replaceChildren("Resolving…");
    const query = new URLSearchParams({ ref: ref.value.trim() });
    if (platform.value.trim()) query.set("platform", platform.value.trim());
    try {
      output.replaceChildren(...resolution(await api(`/api/v1/resolve?${query}`)).filter(Boolean));
    } catch (error) {
      output.replaceChildren(failure(error));
    }
  } },
  el("label", { for: "resolve-ref" }, "Image"), ref, el("label", { for: "resolve-platform" }, "Platform"), platform, el("button", { type: "submit" }, "Resolve"));
  return section("Resolve an image", form, output);
}

function resolution(answer) {
  const line = (label, value, cls) => el("div", { class: "kv" }, el("span", { class: "k" }, label), el("span", { class: cls }, value));
  const chosen = answer.platform?.chosen ?? answer.manifest?.platform;
  return [
    line("Reference", answer.normalized),
    answer.isIndex ? line("Index digest (multi-arch)", digest(answer.digest, "index digest"), "resolved-index") : null,
    line(answer.isIndex ? `Platform digest (${chosen})` : `Manifest digest${chosen ? ` (${chosen})` : ""}`, digest(answer.manifest.digest, "platform digest"), "resolved-platform"),
    line("Pinned", digest(answer.manifest.pinned, "pinned reference"), "resolved-pinned"),
    answer.platforms?.length > 1 ? line("Platforms", answer.platforms.map((p) => el("span", { class: "pill" }, p.platform))) : null,
    line("Size", `${bytes(answer.manifest.totalSize)} in ${answer.manifest.layers.length} layer(s)`),
    answer.warning ? el("p", { class: "warning" }, answer.warning) : null,
  ];
}

async function showUpstreams(container) {
  try {
    const { upstreams } = await api("/api/v1/upstreams");
    if (!upstreams.length) return container.replaceChildren(el("p", { class: "muted" }, "No upstream registries configured."));
    container.replaceChildren(el("div", { class: "cards" }, upstreams.map((u) => {
      const s = u.stats;
      const fact = (k, v, cls) => [el("dt", {}, k), el("dd", { class: cls }, v)];
      return el("article", { class: "card", "aria-label": `Upstream ${u.name}` },
        el("h3", {}, u.name, u.default ? el("span", { class: "pill" }, "default") : null),
        el("p", { class: "muted wrap" }, u.url),
        el("dl", {},
          fact("Cache hits / misses", `${s.cacheHits} / ${s.cacheMisses}`),
          fact("Served from cache", bytes(s.bytesServed)),
          fact("Fetched from upstream", bytes(s.bytesFromUpstream)),
          fact("Upstream requests", Object.entries(s.requests).map(([kind, n]) => el("span", { class: "pill" }, `${kind} ${n}`)).concat(Object.keys(s.requests).length ? [] : ["none"])),
          fact("Rate limit", s.rateLimit ? `${s.rateLimit.remaining} of ${s.rateLimit.limit} left` : "–"),
          fact("Last error", s.lastError ? [s.lastError.message, " (", when(new Date(s.lastError.at).toISOString()), ")"] : "none", s.lastError ? "error" : "muted")));
    })));
  } catch (error) {
    container.replaceChildren(failure(error));
  }
}
