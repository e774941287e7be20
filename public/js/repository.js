// A repository: tags, untagged manifests and the tag history timeline.
import { api, repoPath } from "./api.js";
import { bytes, digest, el, mediaType, section, table, when } from "./dom.js";

const pills = (items) => items.map((p) => el("span", { class: "pill" }, p));

function manifestRows(name, entries) {
  return entries.map((t) => el("tr", { "data-tag": t.tag ?? "", "data-digest": t.digest },
    el("td", {}, el("a", { href: t.tag ? `#/image/${name}:${t.tag}` : `#/image/${name}@${t.digest}` }, t.tag ?? "<none>")),
    el("td", {}, digest(t.digest)),
    el("td", {}, mediaType(t.mediaType)),
    el("td", {}, pills(t.platforms), t.attestations ? el("span", { class: "pill muted" }, `${t.attestations} attestation(s)`) : null),
    el("td", { class: "num" }, bytes(t.size)),
    el("td", {}, when(t.updatedAt))));
}

export async function repository(view, name) {
  const path = repoPath(name);
  const [tags, dangling, history] = await Promise.all([
    api(`/api/v1/repositories/${path}/tags?n=100`),
    api(`/api/v1/repositories/${path}/tags?dangling=1&n=100`),
    api(`/api/v1/repositories/${path}/history?n=50`),
  ]);
  const heading = ["Tag", "Digest", "Type", "Platforms", "Size", "Last change"];
  view.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← All repositories")),
    el("h1", {}, name, " ", el("span", { class: "pill" }, tags.kind)),
    section("Tags", tags.tags.length ? table(null, heading, manifestRows(name, tags.tags), { class: "tags" }) : el("p", { class: "muted" }, "No tags."),
      tags.next ? el("p", { class: "muted" }, "Only the first 100 tags are shown.") : null),
    section("Untagged manifests", dangling.tags.length
      ? table(null, heading, manifestRows(name, dangling.tags), { class: "untagged" })
      : el("p", { class: "muted" }, "None: every manifest has a tag or belongs to an index.")),
    section("Tag history", history.history.length ? timeline(name, history.history) : el("p", { class: "muted" }, "No tag moves recorded.")),
  );
}

function timeline(name, moves) {
  const link = (d) => (d ? el("a", { href: `#/image/${name}@${d}`, class: "digest", title: d }, d) : null);
  return el("ol", { class: "timeline" }, moves.map((m) => el("li", { "data-action": m.action },
    el("div", { class: "when" }, when(m.at)),
    el("div", {}, el("strong", {}, m.tag), " ",
      m.action === "created" ? ["created at ", link(m.newDigest)]
        : m.action === "removed" ? ["removed (was ", link(m.previousDigest), ")"]
          : ["moved from ", link(m.previousDigest), " to ", link(m.newDigest)]),
    el("div", { class: "muted" }, m.actor ? `by ${m.actor}` : "by an anonymous client"))));
}
