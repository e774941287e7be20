// Which repository serves an image reference given to the JSON API.
//
// - The reference names this Berth (the request's host, or 127.0.0.1 /
//   localhost / [::1] with the same port) → the hosted repository `path`.
// - The reference names no host → the hosted repository with that exact path
//   when it has tags; otherwise Docker Hub, as Docker would
//   (`docker.io/<library-normalized path>`). Except for Docker Hub's official
//   images: a one-segment path (`nginx:1.27`) or `library/…` always means Docker
//   Hub, whatever somebody pushed here under that name — a pushed `nginx` is
//   reached only by naming this Berth (`<this host>/nginx:1.27`).
// - The reference names any other host → the repository `<host>/<path>`
//   (the pull-through cache once upstreams are configured).
// The repository always comes from openRepository: this module never talks to
// Durable Objects or R2.

import { OciError } from "../http/errors";
import { formatPinnedReference, formatReference, parseReference, type ParsedReference } from "../oci/reference";
import { openRepository, type OpenOptions } from "../registry/open-repository";
import type { Repository } from "../registry/repository";

export interface ImageSource {
  /** The reference as the caller gave it. */
  input: string;
  /** The reference as Berth understood it (host, repository, tag, digest). */
  reference: ParsedReference;
  /** Normalizations applied to the input, in order, in words. */
  notes: string[];
  /** The repository that serves it. */
  repository: Repository;
  /** Why that repository was chosen, in words. */
  route: string;
  /** Host used in pinned references: the host the caller named (this Berth's host for hosted names). */
  pinHost: string;
  /** Repository path used in pinned references. */
  pinPath: string;
}

/** `host[:port]` of this Berth and its loopback aliases, lowercased. */
export function berthHosts(request: Request): Set<string> {
  const url = new URL(request.url);
  const hosts = new Set<string>([url.host.toLowerCase()]);
  const header = request.headers.get("Host");
  if (header) hosts.add(header.trim().toLowerCase());
  for (const host of [...hosts]) {
    const port = portOf(host);
    const suffix = port ? `:${port}` : "";
    for (const alias of ["127.0.0.1", "localhost", "[::1]"]) hosts.add(alias + suffix);
  }
  return hosts;
}

function portOf(host: string): string {
  const match = /:(\d+)$/.exec(host);
  return match?.[1] ?? "";
}

/** Parses `input` and picks the repository that serves it. Throws REFERENCE_INVALID for bad input. */
export async function locateImage(request: Request, env: Env, input: string | null, ctx?: ExecutionContext): Promise<ImageSource> {
  const options: OpenOptions = ctx ? { waitUntil: (promise) => ctx.waitUntil(promise) } : {};
  if (input === null || input.trim() === "") {
    throw new OciError("REFERENCE_INVALID", 'missing image reference: pass ?ref=<image>, e.g. ?ref=nginx:1.27', { reference: input ?? null });
  }
  const requestHost = new URL(request.url).host.toLowerCase();
  const docker = parseReference(input);

  if (!docker.hostIsDefault && berthHosts(request).has(docker.host)) {
    const repository = open(env, docker.repository, docker, options);
    return {
      input,
      reference: docker,
      notes: docker.notes,
      repository,
      route: `${docker.host} is this Berth: hosted repository ${docker.repository}`,
      pinHost: docker.host,
      pinPath: docker.repository,
    };
  }

  if (docker.hostIsDefault && !officialImagePath(input)) {
    // The same input read with this Berth as the default host: the path exactly as typed.
    const hosted = parseReference(input, { defaultHost: requestHost });
    const candidate = open(env, hosted.repository, hosted, options);
    if (candidate.kind === "hosted" && (await hasTags(candidate))) {
      return {
        input,
        reference: hosted,
        notes: hosted.notes.map((note) => (note === `added default host ${requestHost}` ? `no host given; ${hosted.repository} is a repository hosted here (${requestHost})` : note)),
        repository: candidate,
        route: `no host given and ${hosted.repository} is hosted here: hosted repository ${hosted.repository}`,
        pinHost: requestHost,
        pinPath: hosted.repository,
      };
    }
  }

  const name = `${docker.host}/${docker.repository}`;
  const repository = open(env, name, docker, options);
  return {
    input,
    reference: docker,
    notes: docker.hostIsDefault
      ? docker.notes.map((note) => (note === `added default host ${docker.host}` ? `no host given and no repository hosted here by that name; added default host ${docker.host}` : note))
      : docker.notes,
    repository,
    route:
      repository.kind === "hosted"
        ? `no upstream is configured for ${docker.host}: looked for a hosted repository ${repository.name}`
        : `${docker.hostIsDefault ? "Docker Hub (default host)" : docker.host}: ${repository.kind} repository ${repository.name}`,
    pinHost: docker.host,
    pinPath: docker.repository,
  };
}

/** `nginx`, `nginx:1.27`, `library/nginx@sha256:…`: what Docker reads as an official Docker Hub image. */
function officialImagePath(input: string): boolean {
  const path = input.replace(/@.*$/, "").replace(/:[^/]*$/, "");
  return !path.includes("/") || path.startsWith("library/");
}

function open(env: Env, name: string, reference: ParsedReference, options: OpenOptions): Repository {
  try {
    return openRepository(env, name, options);
  } catch (error) {
    // A valid image reference that Berth cannot map to a repository name (e.g. an
    // upstream host with a port that no upstream is configured for) is unknown here, not invalid.
    if (error instanceof OciError && error.code === "NAME_INVALID") {
      throw new OciError("NAME_UNKNOWN", `Berth serves no repository for ${reference.host}/${reference.repository}: ${error.message}`, {
        reference: reference.normalized,
        repository: name,
      });
    }
    throw error;
  }
}

async function hasTags(repository: Repository): Promise<boolean> {
  // Reads only this repository's own state: unlike listTags it never falls
  // through to an upstream (Docker Hub mirror mode), so no upstream request is made.
  try {
    return await repository.hasTags();
  } catch (error) {
    if (error instanceof OciError && (error.code === "NAME_UNKNOWN" || error.code === "NAME_INVALID")) return false;
    throw error;
  }
}

/** `host/path@digest` for the source. */
export function pinnedReference(source: ImageSource, digest: string): string {
  return formatPinnedReference({ host: source.pinHost, repository: source.pinPath }, digest);
}

/** The normalized reference as the caller should read it (this Berth's host for hosted names). */
export function normalizedReference(source: ImageSource): string {
  return formatReference({ host: source.pinHost, repository: source.pinPath, tag: source.reference.tag, digest: source.reference.digest });
}
