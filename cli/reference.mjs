// Image references as docker and skopeo read them, and skopeo's transport names for sources.

import { UsageError } from "./errors.mjs";

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const DOCKER_HUB = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);


/**
 * `[host[:port]/]path[:tag][@digest]` → { host, apiHost, repository, tag?, digest? }.
 * No host means docker.io (one-segment names get library/); the first component is a host when
 * it has a dot or a port or is localhost, as in docker.
 */
export function parseImageName(text) {
  let rest = text;
  let digest;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new UsageError(`"${text}": invalid digest "${digest}"`);
  }
  let tag;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new UsageError(`"${text}": invalid tag "${tag}"`);
  }
  let host = "docker.io";
  const slash = rest.indexOf("/");
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      host = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (DOCKER_HUB.has(host)) {
    host = "docker.io";
    if (!rest.includes("/")) rest = `library/${rest}`;
  }
  if (!NAME.test(rest)) throw new UsageError(`"${text}": invalid repository name "${rest}" (lowercase letters, digits and . _ - separators)`);
  return { host, apiHost: host === "docker.io" ? "registry-1.docker.io" : host, repository: rest, tag, digest };
}

/** skopeo's `path[:suffix]` split: the first colon ends the path. */
function splitPath(text) {
  const colon = text.indexOf(":");
  return colon < 0 ? [text, undefined] : [text.slice(0, colon), text.slice(colon + 1) || undefined];
}

/**
 * A source in skopeo's syntax:
 *   oci:<dir>[:<ref>]                      → { kind: "oci", dir, ref? }
 *   oci-archive:<file>[:<ref>]             → { kind: "oci-archive", file, ref? }
 *   docker-archive:<file>[:<ref>|:@<n>]    → { kind: "docker-archive", file, ref?, index? }
 *   docker://<image>                       → { kind: "docker", image }
 */
export function parseSource(text) {
  if (text.startsWith("docker://")) return { kind: "docker", image: parseImageName(text.slice("docker://".length)) };
  if (text.startsWith("oci:")) {
    const [dir, ref] = splitPath(text.slice(4));
    if (!dir) throw new UsageError(`"${text}": oci: needs a directory (oci:<dir>[:<ref>])`);
    return { kind: "oci", dir, ref };
  }
  if (text.startsWith("oci-archive:")) {
    const [file, ref] = splitPath(text.slice("oci-archive:".length));
    if (!file) throw new UsageError(`"${text}": oci-archive: needs a file (oci-archive:<file>[:<ref>])`);
    return { kind: "oci-archive", file, ref };
  }
  if (text.startsWith("docker-archive:")) {
    const [file, suffix] = splitPath(text.slice("docker-archive:".length));
    if (!file) throw new UsageError(`"${text}": docker-archive: needs a file (docker-archive:<file>[:<ref>])`);
    if (suffix?.startsWith("@")) {
      const index = Number(suffix.slice(1));
      if (!Number.isInteger(index) || index < 0) throw new UsageError(`"${text}": @${suffix.slice(1)} is not an image index`);
      return { kind: "docker-archive", file, index };
    }
    return { kind: "docker-archive", file, ref: suffix };
  }
  throw new UsageError(`unsupported source "${text}": use oci:<dir>[:<ref>], oci-archive:<file>[:<ref>], docker-archive:<file>[:<ref>] or docker://<image>`);
}

/** The destination: `[docker://]<host>/<repo>[:<tag>|@<digest>]`; no tag means latest. */
export function parseDestination(text) {
  const image = parseImageName(text.startsWith("docker://") ? text.slice("docker://".length) : text);
  if (!image.tag && !image.digest) image.tag = "latest";
  return image;
}

/** host/repo:tag for messages. */
export function displayName(image) {
  return `${image.host}/${image.repository}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`;
}
