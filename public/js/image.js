// One image, by tag or digest: an index as a platform matrix, a manifest as
// its config summary and its layers with what they share.
import { ApiError, api, repoPath } from "./api.js";
import { imageRef, pullCommands } from "./commands.js";
import { bytes, digest, el, mediaType, section, table, when } from "./dom.js";

/** `name:tag` or `name@digest` from the route. */
export function parseImageSpec(spec) {
  const at = spec.indexOf("@");
  if (at > 0) return { name: spec.slice(0, at), digest: spec.slice(at + 1) };
  const colon = spec.lastIndexOf(":");
  if (colon > spec.lastIndexOf("/")) return { name: spec.slice(0, colon), tag: spec.slice(colon + 1) };
  return { name: spec, tag: "latest" };
}

async function resolveAny(ref) {
  try {
    return await api(`/api/v1/resolve?ref=${encodeURIComponent(ref)}`);
  } catch (error) {
    // An index without the default platform: describe it through a platform it has.
    const available = error instanceof ApiError && error.code === "PLATFORM_UNKNOWN" ? error.detail?.available : null;
    if (!available?.length) throw error;
    return api(`/api/v1/resolve?ref=${encodeURIComponent(ref)}&platform=${encodeURIComponent(available[0])}`);
  }
}

/** Replaces the view's content, leaving out the sections that have nothing to show. */
const show = (view, ...nodes) => view.replaceChildren(...nodes.flat().filter(Boolean));

export async function image(view, spec) {
  const target = parseImageSpec(spec);
  const answer = await resolveAny(imageRef(target.name, target));
  const name = answer.repository.name;
  const title = target.tag ? `${target.name}:${target.tag}` : `${target.name}@${target.digest}`;
  const header = [
    el("p", {}, el("a", { href: `#/repo/${name}` }, `← ${name}`)),
    el("h1", { class: "wrap" }, title, " ", el("span", { class: "pill" }, answer.repository.kind)),
    el("div", { class: "kv" }, el("span", { class: "k" }, answer.isIndex ? "Index digest" : "Manifest digest"), digest(answer.digest, "image digest")),
    el("div", { class: "kv" }, el("span", { class: "k" }, "Media type"), mediaType(answer.mediaType)),
    answer.warning ? el("p", { class: "warning" }, answer.warning) : null,
    section("Pull", pullCommands(target.name, { tag: target.tag, digest: answer.digest })),
  ];
  if (answer.isIndex) {
    show(view, header, indexSections(target.name, answer));
    return;
  }
  const [inspect, storage] = await Promise.all([
    api(`/api/v1/inspect?ref=${encodeURIComponent(imageRef(target.name, { digest: answer.digest }))}`),
    api(`/api/v1/repositories/${repoPath(name)}/images/${answer.digest}`),
  ]);
  show(view, header,
    storage.listedBy.length ? el("p", { class: "muted" }, "Part of the index ", storage.listedBy.map((parent) =>
      el("a", { href: `#/image/${target.name}@${parent.digest}`, class: "digest", title: parent.digest }, parent.tags.length ? `${parent.tags.join(", ")} (${parent.digest.slice(0, 19)}…)` : parent.digest))) : null,
    configSection(inspect.image, inspect.imageNote),
    layersSection(target.name, storage),
    historySection(inspect.image));
}

function indexSections(name, answer) {
  const rows = answer.platforms.map((p) => {
    const size = el("td", { class: "num" }, "…");
    api(`/api/v1/repositories/${repoPath(answer.repository.name)}/images/${p.digest}`).then(
      (s) => size.replaceChildren(bytes(s.blobs.reduce((sum, b) => sum + b.size, 0))),
      () => size.replaceChildren("–"),
    );
    return el("tr", { "data-platform": p.platform },
      el("td", {}, el("a", { href: `#/image/${name}@${p.digest}` }, p.platform)),
      el("td", {}, p.os), el("td", {}, p.architecture), el("td", {}, p.variant ?? "–"),
      el("td", {}, digest(p.digest, `${p.platform} digest`)),
      size);
  });
  const attestations = answer.attestations.map((a) => el("tr", {},
    el("td", {}, a.platform ?? "–"),
    el("td", {}, digest(a.digest, "attestation digest")),
    el("td", {}, a.annotates ? el("a", { href: `#/image/${name}@${a.annotates}`, class: "digest", title: a.annotates }, a.annotates) : "–")));
  return [
    section("Platforms", table(null, ["Platform", "OS", "Architecture", "Variant", "Digest", "Image size"], rows, { class: "platforms" })),
    attestations.length ? section("Attestations", el("p", { class: "muted" }, "Build attestations (provenance, SBOM) describe a platform image; they are not platforms and are never pulled to run."),
      table(null, ["For platform", "Digest", "Describes"], attestations, { class: "attestations" })) : null,
    answer.other.length ? section("Other entries", table(null, ["Digest", "Type"], answer.other.map((o) => el("tr", {}, el("td", {}, digest(o.digest)), el("td", {}, mediaType(o.artifactType ?? o.mediaType)))))) : null,
  ];
}

function configSection(image, note) {
  if (!image) return section("Configuration", el("p", { class: "muted" }, note ?? "No image configuration."));
  const c = image.Config ?? {};
  const fact = (k, v) => (v === null || v === undefined || (Array.isArray(v) && !v.length) || v === "" ? null : [el("dt", {}, k), el("dd", {}, v)]);
  const list = (items) => el("ul", { class: "plain" }, items.map((item) => el("li", {}, el("code", {}, item))));
  const labels = Object.entries(c.Labels ?? {});
  return section("Configuration", el("dl", { class: "facts" },
    fact("Created", image.Created ? when(image.Created) : null),
    fact("Platform", [image.Os, image.Architecture, image.Variant].filter(Boolean).join("/")),
    fact("Entrypoint", c.Entrypoint ? el("code", {}, JSON.stringify(c.Entrypoint)) : null),
    fact("Cmd", c.Cmd ? el("code", {}, JSON.stringify(c.Cmd)) : null),
    fact("User", c.User ? el("code", {}, c.User) : null),
    fact("Working directory", c.WorkingDir ? el("code", {}, c.WorkingDir) : null),
    fact("Exposed ports", c.ExposedPorts ? Object.keys(c.ExposedPorts).join(", ") : null),
    fact("Environment", c.Env?.length ? list(c.Env) : null),
    fact("Labels", labels.length ? el("ul", { class: "plain labels" }, labels.map(([k, v]) => el("li", {}, el("code", {}, k), " = ", el("code", { class: "label-value" }, v)))) : null)));
}

function layersSection(name, storage) {
  const blobs = storage.blobs;
  const total = blobs.reduce((sum, b) => sum + b.size, 0) || 1;
  const shared = (b) => b.imageCount > 0 || b.repositoryCount > 0;
  const bar = el("div", { class: "bar", role: "img", "aria-label": `Blob sizes: ${blobs.map((b, i) => `${i ? `layer ${i}` : "config"} ${bytes(b.size)}`).join(", ")}` },
    blobs.map((b, i) => el("span", { class: shared(b) ? "shared" : "own", style: { flexGrow: String(Math.max(b.size / total, 0.004)) }, title: `${i ? `layer ${i}` : "config"}: ${bytes(b.size)}${shared(b) ? " (shared)" : ""}` })));
  const rows = blobs.map((b, i) => el("tr", { "data-digest": b.digest, class: shared(b) ? "is-shared" : "" },
    el("td", { class: "num" }, b.role === "config" ? "config" : String(i)),
    el("td", {}, digest(b.digest, `${b.role} digest`)),
    el("td", { class: "num" }, bytes(b.size)),
    el("td", {}, mediaType(b.mediaType)),
    el("td", {}, sharing(name, b))));
  const free = storage.wouldFree;
  return section("Layers", bar,
    el("p", { class: "legend muted" }, el("span", { class: "swatch own" }), " only this image ", el("span", { class: "swatch shared" }), " shared"),
    table(null, ["#", "Digest", "Size", "Type", "Shared with"], rows, { class: "layers" }),
    el("p", { class: "would-free", "data-bytes": String(free.bytes) },
      el("strong", {}, `Deleting this image would free ${bytes(free.bytes)} now`), ` (${free.blobs} blob${free.blobs === 1 ? "" : "s"}): ${free.note}.`));
}

function sharing(name, b) {
  if (b.imageCount === 0 && b.repositoryCount === 0) return el("span", { class: "muted" }, "only this image");
  const parts = [el("span", { class: "pill shared-pill" }, "shared")];
  if (b.imageCount) {
    parts.push(` ${b.imageCount} other image${b.imageCount === 1 ? "" : "s"} here: `,
      b.images.map((u, i) => [i ? ", " : "", el("a", { href: `#/image/${name}@${u.digest}`, title: u.digest }, u.tags.length ? `${u.tags.join(", ")} · ${u.digest.slice(7, 15)}` : `${u.digest.slice(0, 19)}…`)]));
  }
  if (b.repositoryCount) {
    parts.push(` ${b.repositoryCount} other repositor${b.repositoryCount === 1 ? "y" : "ies"}: `,
      b.repositories.map((r, i) => [i ? ", " : "", el("a", { href: `#/repo/${r}` }, r)]), b.repositoryCount > b.repositories.length ? ", …" : "");
  }
  parts.push(el("div", { class: "muted small" }, "A pull that has it shows \u201cAlready exists\u201d."));
  return parts;
}

function historySection(image) {
  const history = image?.History ?? [];
  if (!history.length) return null;
  return section("History", el("ol", { class: "history" }, history.map((h) => el("li", {},
    el("code", { class: "wrap" }, h.created_by ?? "(no command)"),
    h.empty_layer ? el("span", { class: "pill muted" }, "no layer") : null,
    h.created ? el("span", { class: "muted small" }, " ", when(h.created)) : null))));
}
