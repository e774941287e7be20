// Commands to copy, for the host this page was loaded from. A registry on a
// loopback address or plain http is the local quick start: clients there need
// their insecure switch.
import { command, el } from "./dom.js";

const host = location.host;
const insecure = location.protocol === "http:" || /^(localhost|127\.[\d.]+|\[::1\])(:\d+)?$/.test(host);

/** `<host>/<repository>` plus `:tag` or `@digest`. */
export const imageRef = (repository, { tag, digest }) => `${host}/${repository}${digest ? `@${digest}` : `:${tag}`}`;

export function pullCommands(repository, { tag, digest }) {
  const byTag = tag ? imageRef(repository, { tag }) : null;
  const byDigest = digest ? imageRef(repository, { digest }) : null;
  const local = repository.split("/").pop();
  const rows = [];
  if (byTag) rows.push(["docker pull (tag)", `docker pull ${byTag}`]);
  if (byDigest) rows.push(["docker pull (digest)", `docker pull ${byDigest}`]);
  const ref = byDigest ?? byTag;
  rows.push(["podman pull", `podman pull${insecure ? " --tls-verify=false" : ""} ${ref}`]);
  rows.push(["skopeo copy", `skopeo copy${insecure ? " --src-tls-verify=false" : ""} docker://${ref} oci:${local}:${tag ?? "image"}`]);
  if (byTag) rows.push(["resolve API", `curl -fsS${location.protocol === "https:" && insecure ? "k" : ""} "${location.origin}/api/v1/resolve?ref=${byTag}&format=digest"`]);
  return el("div", { class: "commands" }, rows.map(([label, text]) => el("div", { class: "command-row" }, el("span", { class: "command-label" }, label), command(text, `${label} command`))));
}

export function pushCommands() {
  const ref = `${host}/team/app:v1`;
  return el("div", { class: "commands" },
    command(`skopeo copy${insecure ? " --dest-tls-verify=false" : ""} docker://docker.io/library/alpine:latest docker://${ref}`, "skopeo push command"),
    command(`podman push${insecure ? " --tls-verify=false" : ""} <image> ${ref}`, "podman push command"),
    command(`docker tag <image> ${ref} && docker push ${ref}`, "docker push command"));
}
