// GET /api/v1/images[?filter=<term>…][&n=][&last=<repository>]
//
// Images across repositories, like `docker image ls` with its --filter terms
// (src/api/image-filters.ts): each tag (or, with dangling=true, each untagged
// and unlisted manifest) with its repository, digest, media type and when it
// last changed. A page reads at most MAX_SCANNED repositories and
// MAX_ROWS_READ tags (or dangling manifests) in Durable Object pages, and ends
// once it holds n entries; `next` names the last repository read, or
// `<repository>@<position>` when the page ended inside one: continue with last=.

import { callerOf, requireRepository } from "../auth/gate";
import { OciError } from "../http/errors";
import { pageSize } from "../http/request";
import { jsonResponse, nextLink } from "../http/responses";
import { catalogStub } from "../registry/catalog-do";
import { openRepository } from "../registry/open-repository";
import { MAX_LIST_PAGE } from "../registry/limits";
import type { Repository, TagDetail } from "../registry/repository";
import { parseImageFilters, type ImageFilters, type TimeBound } from "./image-filters";

const MAX_ENTRIES = 500;
const DEFAULT_ENTRIES = 100;
/** Repositories read per request, whatever they hold. */
const MAX_SCANNED = 50;
/** Tags or dangling manifests read per request, whatever the filters keep. */
const MAX_ROWS_READ = 10_000;

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
  const keep = (image: ImageEntry) => inTime(image, before, since);
  const budget = { rows: MAX_ROWS_READ };
  const { repository: resumed, position } = parseCursor(url.searchParams.get("last") ?? undefined);
  const page = await catalogStub(env).list(MAX_SCANNED, resumed, filters.prefix);
  // A page that ended inside a repository continues there before the catalog's next names.
  const names = position !== undefined && resumed !== undefined ? [resumed, ...page.names] : page.names;
  let next: string | null = null;
  for (const [i, name] of names.entries()) {
    const start = i === 0 ? position : undefined;
    // Only repositories the caller may pull.
    const read = filters.repository(name) && caller.lists(name) ? await imagesOf(openRepository(env, name), filters, start, budget, n - images.length) : { images: [] };
    images.push(...read.images.filter(keep));
    if (read.resume !== undefined) {
      next = `${name}@${read.resume}`;
      break;
    }
    if (images.length >= n || budget.rows <= 0) {
      next = i < names.length - 1 || page.more ? name : null;
      break;
    }
    if (i === names.length - 1 && page.more) next = name;
  }
  const headers: Record<string, string> = { "Cache-Control": "no-cache" };
  if (next !== null) {
    const query = new URLSearchParams(terms.map((term) => ["filter", term]));
    headers["Link"] = nextLink("/api/v1/images", n, next).replace(/>; rel="next"$/, `${query.size ? `&${query}` : ""}>; rel="next"`);
  }
  return jsonResponse({ filters: terms, images, next }, 200, headers);
}

/** `last=` is a repository name, or `<repository>@<position>` inside one (names never hold "@"). */
function parseCursor(last: string | undefined): { repository: string | undefined; position: string | undefined } {
  if (last === undefined) return { repository: undefined, position: undefined };
  const at = last.indexOf("@");
  return at === -1 ? { repository: last, position: undefined } : { repository: last.slice(0, at), position: last.slice(at + 1) };
}

/**
 * The entries of one repository after `position`, read in Durable Object pages.
 * Stops when `wanted` entries were found or the request's row budget is spent;
 * `resume` then says where to continue.
 */
async function imagesOf(repository: Repository, filters: ImageFilters, position: string | undefined, budget: { rows: number }, wanted: number): Promise<{ images: ImageEntry[]; resume?: string }> {
  const base = { repository: repository.name, kind: repository.kind };
  const images: ImageEntry[] = [];
  for (let after = position; ; ) {
    const size = Math.min(MAX_LIST_PAGE, budget.rows);
    let next: string | undefined;
    if (filters.dangling) {
      const page = await repository.danglingManifests(size, after);
      budget.rows -= page.items.length;
      next = page.next;
      for (const m of page.items) images.push({ ...base, tag: null, digest: m.digest, mediaType: m.mediaType, manifestSize: m.size, updatedAt: new Date(m.createdAt).toISOString() });
    } else {
      const page = await repository.tagDetails(size, after);
      budget.rows -= page.items.length;
      next = page.next;
      for (const t of page.items) {
        if (filters.tag(t.tag)) images.push({ ...base, tag: t.tag, digest: t.digest, mediaType: t.mediaType, manifestSize: t.size, updatedAt: new Date(t.updatedAt).toISOString() });
      }
    }
    if (next === undefined) return { images };
    if (images.length >= wanted || budget.rows <= 0) return { images, resume: next };
    after = next;
  }
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
  let tag: TagDetail | undefined;
  // Pages in tag order: stop at the page that reaches the tag.
  for (let after: string | undefined; tag === undefined; ) {
    const page = await repository.tagDetails(MAX_LIST_PAGE, after);
    tag = page.items.find((t) => t.tag === bound.tag);
    if (page.next === undefined || (page.items.at(-1)?.tag ?? "") >= bound.tag) break;
    after = page.next;
  }
  if (!tag) throw new OciError("MANIFEST_UNKNOWN", `${bound.repository}:${bound.tag} is unknown: before= and since= need an existing tag`, { repository: bound.repository, tag: bound.tag });
  return tag.updatedAt;
}
