// Docker image references: `[host[:port]/]path[:tag][@digest]`.
//
// Parsing follows github.com/distribution/reference (ParseNormalizedNamed +
// TagNameOnly), which is what the docker CLI uses:
// - the first path component is a host when it contains "." or ":" or is
//   exactly "localhost"; otherwise the default host (docker.io) is used;
// - `index.docker.io` and `registry-1.docker.io` are Docker Hub, spelled `docker.io`;
// - a one-segment Docker Hub name gets the `library/` prefix (official images);
//   other hosts never get it;
// - no tag and no digest means tag `latest`; a digest without a tag stays
//   tag-less; a tag with a digest keeps both (the digest is what pins);
// - the path must be lowercase and match the OCI name grammar; the whole name
//   (host + "/" + path) is at most 255 characters;
// - a bare 64-hex string is an image ID, not a reference.
// Deliberate differences from distribution, each reported in `notes`:
// surrounding whitespace is trimmed, the host is lowercased (DNS is
// case-insensitive), and `registry-1.docker.io` is folded into docker.io. An
// uppercase first component is reported as an uppercase path (distribution
// would silently treat it as a host name, which only ever fails later).
// Pure: no I/O.

import { OciError } from "../http/errors";
import { parseDigest } from "./digest";
import { isValidName, isValidTag } from "./names";

export const DOCKER_HUB_HOST = "docker.io";
export const DEFAULT_TAG = "latest";
const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);
const OFFICIAL_PREFIX = "library/";
const NAME_TOTAL_LENGTH_MAX = 255;

// distribution: domainNameComponent ("." domainNameComponent)* | "[" ipv6 "]", then optional ":" port.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const IMAGE_ID = /^[a-f0-9]{64}$/;

export interface ParsedReference {
  /** Registry host, lowercased, with port when given: `docker.io`, `ghcr.io`, `localhost:8787`. */
  host: string;
  /** Repository path on that host: `library/nginx`, `org/app`. */
  repository: string;
  /** Tag; `latest` when neither tag nor digest was given. */
  tag?: string;
  /** Digest (`sha256:…`) when the reference is pinned. */
  digest?: string;
  /** Familiar full form: `host/repository[:tag][@digest]`. */
  normalized: string;
  /** True when the input named no host and the default host was filled in. */
  hostIsDefault: boolean;
  /** Human-readable normalizations applied, in the order they were applied. */
  notes: string[];
}

export interface ParseReferenceOptions {
  /** Host used when the reference names none (default `docker.io`). */
  defaultHost?: string;
}

function invalid(input: string, problem: string): OciError {
  return new OciError("REFERENCE_INVALID", `invalid reference "${input}": ${problem}`, { reference: input });
}

function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB_HOST : lower;
}

/** distribution's rule: a first component is a host if it has "." or ":" or is "localhost". */
function looksLikeHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

/**
 * Parses a Docker image reference. Throws OciError REFERENCE_INVALID (400)
 * with a message naming the problem.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): ParsedReference {
  const notes: string[] = [];
  const ref = input.trim();
  if (ref === "") throw invalid(input, "reference is empty");
  if (ref !== input) notes.push("trimmed surrounding whitespace");
  if (/\s/.test(ref)) throw invalid(input, "reference must not contain whitespace");
  if (IMAGE_ID.test(ref)) {
    throw invalid(input, "a 64-character hexadecimal string is an image ID, not a reference; pin by digest with name@sha256:<hex>");
  }

  const defaultHostInput = options.defaultHost ?? DOCKER_HUB_HOST;
  if (!HOST.test(defaultHostInput)) throw invalid(input, `default host "${defaultHostInput}" is not a valid host`);
  const defaultHost = canonicalHost(defaultHostInput);

  // Digest: everything after the first "@" (names and tags cannot contain "@").
  let rest = ref;
  let digest: string | undefined;
  const at = ref.indexOf("@");
  if (at !== -1) {
    rest = ref.slice(0, at);
    const digestPart = ref.slice(at + 1);
    if (digestPart === "") throw invalid(input, 'digest after "@" is empty');
    if (digestPart.includes("@")) throw invalid(input, 'only one "@digest" is allowed');
    try {
      digest = parseDigest(digestPart).digest;
    } catch (error) {
      const reason = error instanceof OciError ? error.message : "invalid digest";
      throw invalid(input, reason);
    }
  }
  if (rest === "") throw invalid(input, 'repository name before "@" is empty');

  // Host: the first component, when it looks like one.
  let host: string;
  let hostIsDefault: boolean;
  let path: string;
  const slash = rest.indexOf("/");
  const first = slash === -1 ? undefined : rest.slice(0, slash);
  if (first !== undefined && looksLikeHost(first)) {
    if (!HOST.test(first)) throw invalid(input, `"${first}" is not a valid registry host[:port]`);
    host = canonicalHost(first);
    hostIsDefault = false;
    path = rest.slice(slash + 1);
    if (host !== first) {
      const lowered = first.toLowerCase();
      if (lowered !== first) notes.push(`lowercased host ${first} to ${lowered}`);
      if (host !== lowered) notes.push(`rewrote host ${lowered} to ${host}`);
    }
  } else {
    host = defaultHost;
    hostIsDefault = true;
    path = rest;
    notes.push(`added default host ${host}`);
  }

  // Tag: after the last ":" of the path (the host's port colon is already gone).
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon !== -1) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (tag === "") throw invalid(input, 'tag after ":" is empty');
    if (!isValidTag(tag)) {
      throw invalid(
        input,
        `tag "${tag}" is invalid: a tag is 1 to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
      );
    }
  }

  if (path === "") throw invalid(input, "repository path is empty");
  if (path !== path.toLowerCase()) throw invalid(input, `repository path "${path}" must be lowercase`);
  for (const component of path.split("/")) {
    if (component === "") throw invalid(input, `repository path "${path}" has an empty component`);
    if (!isValidName(component)) {
      throw invalid(
        input,
        `path component "${component}" is invalid: use lowercase letters and digits, separated by ".", "_", "__" or dashes, not at the start or end`,
      );
    }
  }

  if (host === DOCKER_HUB_HOST && !path.includes("/")) {
    path = OFFICIAL_PREFIX + path;
    notes.push(`added ${OFFICIAL_PREFIX} prefix`);
  }
  const fullName = `${host}/${path}`;
  if (fullName.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `name "${fullName}" is ${fullName.length} characters; the limit is ${NAME_TOTAL_LENGTH_MAX}`);
  }

  if (tag === undefined && digest === undefined) {
    tag = DEFAULT_TAG;
    notes.push(`added default tag ${DEFAULT_TAG}`);
  }

  const parsed: ParsedReference = {
    host,
    repository: path,
    normalized: formatReference({ host, repository: path, tag, digest }),
    hostIsDefault,
    notes,
  };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** `host/repository[:tag][@digest]` without validation. */
export function formatReference(ref: { host: string; repository: string; tag?: string | undefined; digest?: string | undefined }): string {
  return `${ref.host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/**
 * Pinned form `host/repository@digest` (tag dropped: the digest is what is
 * pulled). Throws REFERENCE_INVALID when `digest` is not a valid digest.
 */
export function formatPinnedReference(ref: { host: string; repository: string }, digest: string): string {
  try {
    parseDigest(digest);
  } catch (error) {
    const reason = error instanceof OciError ? error.message : "invalid digest";
    throw new OciError("REFERENCE_INVALID", `cannot pin ${ref.host}/${ref.repository}: ${reason}`, { digest });
  }
  return formatReference({ host: ref.host, repository: ref.repository, digest });
}
