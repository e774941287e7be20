// DOM building and formatting. Every value is inserted as a text node, never
// as HTML: image labels, annotations, env and history are arbitrary text.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    // CSSOM, not a style attribute: the Content-Security-Policy forbids inline styles.
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return el("time", { datetime: date.toISOString(), title: date.toISOString() }, date.toLocaleString());
}

const MEDIA_NAMES = {
  "application/vnd.oci.image.index.v1+json": "OCI index",
  "application/vnd.oci.image.manifest.v1+json": "OCI manifest",
  "application/vnd.docker.distribution.manifest.list.v2+json": "Docker manifest list",
  "application/vnd.docker.distribution.manifest.v2+json": "Docker manifest",
  "application/vnd.oci.image.config.v1+json": "OCI config",
  "application/vnd.docker.container.image.v1+json": "Docker config",
  "application/vnd.oci.image.layer.v1.tar+gzip": "tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "tar+zstd",
  "application/vnd.oci.image.layer.v1.tar": "tar",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "tar+gzip (Docker)",
};

/** A short name for a media type, with the full one in the tooltip. */
export function mediaType(type) {
  return el("span", { title: type }, MEDIA_NAMES[type] ?? type);
}

/** A table; each cell carries its column's name, which narrow screens show beside the value. */
export function table(caption, headings, rows, attrs = {}) {
  for (const row of rows) [...row.children].forEach((cell, i) => cell.setAttribute("data-label", headings[i] ?? ""));
  return el("div", { class: "scroll" }, el("table", attrs, caption ? el("caption", {}, caption) : null,
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
}

export const section = (title, ...children) => el("section", {}, el("h2", {}, title), ...children);

/** Copies `text`; falls back to a selection copy where the Clipboard API is unavailable. */
async function writeClipboard(text) {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const area = el("textarea", { class: "offscreen", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

export function copyButton(text, label) {
  const button = el("button", { type: "button", class: "copy", "aria-label": `Copy ${label}`, title: `Copy ${label}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await writeClipboard(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

/** A digest in full (shortened only visually), with a copy button. */
export function digest(value, label = "digest") {
  if (!value) return "–";
  return el("span", { class: "digest-cell" }, el("code", { class: "digest", title: value }, value), copyButton(value, label));
}

/** A command line shown whole with a copy button. */
export function command(text, label) {
  return el("div", { class: "command" }, el("code", {}, text), copyButton(text, label));
}

export function failure(error) {
  return el("p", { class: "error", role: "alert" }, error.message);
}
