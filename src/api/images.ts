// GET /api/v1/images[?filter=<term>…][&n=][&last=<repository>]
//
// Images across repositories, like `docker image ls` with its --filter terms
// (src/api/image-filters.ts): each tag (or, with dangling=true, each untagged
// and unlisted manifest) with its repository, digest, media type and when it
// last changed. A page reads at most MAX_SCANNED repositories and ends after
// the repository that brings it to n entries; `next` names the last repository
// read: continue with last=.

import { callerOf, requireRepository } from "../auth/gate";
import { OciError } from "../http/errors";
import { pageSize } from "../http/request";
import { jsonResponse, nextLink } from "../http/responses";
import { catalogStub } from "../registry/catalog-do";
import { openRepository } from "../registry/open-repository";
import type { Repository } from "../registry/repository";
import { parseImageFilters, type ImageFilters, type TimeBound } from "./image-filters";

const MAX_ENTRIES = 500;
const DEFAULT_ENTRIES = 100;
/** Repositories read per request, whatever they hold. */
const MAX_SCANNED = 50;

export interface ImageEntry {
  repository: string;
  kind: "hosted" | "cached";
  /** null for a dangling manifest. */
  tag: string | null;
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  manifestSize: number;
  /** When the tag last moved (dangling: when the manifest was pushed), ISO 8601. */
  updatedAt: string;
}

export async function listImages(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const terms = url.searchParams.getAll("filter");
  const filters = parseImageFilters(terms);
  const n = pageSize(url, MAX_ENTRIES) ?? DEFAULT_ENTRIES;
  const [before, since] = await Promise.all([boundTime(request, env, filters.before), boundTime(request, env, filters.since)]);
  const caller = callerOf(request);

  const images: ImageEntry[] = [];
  const page = await catalogStub(env).list(MAX_SCANNED, url.searchParams.get("last") ?? undefined, filters.prefix);
  let cursor: string | undefined;
  let stoppedEarly = false;
  for (const [i, name] of page.names.entries()) {
    cursor = name;
    // Only repositories the caller may pull.
    if (filters.repository(name) && caller.lists(name)) images.push(...(await imagesOf(openRepository(env, name), filters)).filter((image) => inTime(image, before, since)));
    if (images.length >= n) {
      stoppedEarly = i < page.names.length - 1;
      break;
    }
  }
  const next = (stoppedEarly || page.more) && cursor !== undefined ? cursor : null;
  const headers: Record<string, string> = { "Cache-Control": "no-cache" };
  if (next !== null) {
    const query = new URLSearchParams(terms.map((term) => ["filter", term]));
    headers["Link"] = nextLink("/api/v1/images", n, next).replace(/>; rel="next"$/, `${query.size ? `&${query}` : ""}>; rel="next"`);
  }
  return jsonResponse({ filters: terms, images, next }, 200, headers);
}

async function imagesOf(repository: Repository, filters: ImageFilters): Promise<ImageEntry[]> {
  const base = { repository: repository.name, kind: repository.kind };
  if (filters.dangling) {
    return (await repository.danglingManifests()).map((m) => ({
      ...base,
      tag: null,
      digest: m.digest,
      mediaType: m.mediaType,
      manifestSize: m.size,
      updatedAt: new Date(m.createdAt).toISOString(),
    }));
  }
  return (await repository.tagDetails())
    .filter((t) => filters.tag(t.tag))
    .map((t) => ({ ...base, tag: t.tag, digest: t.digest, mediaType: t.mediaType, manifestSize: t.size, updatedAt: new Date(t.updatedAt).toISOString() }));
}

function inTime(image: ImageEntry, before: number | undefined, since: number | undefined): boolean {
  const at = Date.parse(image.updatedAt);
  return (before === undefined || at < before) && (since === undefined || at > since);
}

/** The time a before=/since= bound stands for: the named tag's last move. */
async function boundTime(request: Request, env: Env, bound: TimeBound | undefined): Promise<number | undefined> {
  if (!bound) return undefined;
  if (bound.kind === "time") return bound.at;
  // before=/since= name an image: reading its tag needs pull there, like any other read.
  requireRepository(request, bound.repository, ["pull"]);
  const repository = openRepository(env, bound.repository);
  const tag = (await repository.tagDetails()).find((t) => t.tag === bound.tag);
  if (!tag) throw new OciError("MANIFEST_UNKNOWN", `${bound.repository}:${bound.tag} is unknown: before= and since= need an existing tag`, { repository: bound.repository, tag: bound.tag });
  return tag.updatedAt;
}
