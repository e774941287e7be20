// GET /api/v1/repositories[?prefix=&pattern=<glob>][&details=1][&n=&last=]
// GET /api/v1/repositories/<name>/tags[?pattern=<glob>][&dangling=1][&n=&last=]
//
// Repositories (from the catalog: hosted ones and the cache's), and a repository's tags — or its
// dangling (untagged, unreferenced) manifests — with digest, media type,
// platforms, size and time of the last change. Pages are bounded: reading a
// tag's platforms and size costs a few Durable Object and R2 reads.

import { callerOf } from "../auth/gate";
import { OciError } from "../http/errors";
import { param, pageSize } from "../http/request";
import { jsonResponse, nextLink } from "../http/responses";
import { catalogStub } from "../registry/catalog-do";
import { MAX_LIST_PAGE } from "../registry/limits";
import { repositoryStub } from "../registry/repository-do";
import { openRepository } from "../registry/open-repository";
import type { Repository } from "../registry/repository";
import { compileGlob, compileRepositoryGlob, globPrefix } from "./glob";
import { MAX_CHILDREN, summarize, type ImageSummary } from "./image-summary";
import { ManifestReader } from "./manifest-reader";

const MAX_REPOSITORIES_PAGE = 1000;
/** details=1 reads each repository's Durable Object: smaller pages. */
const MAX_DETAILED_PAGE = 200;
const DEFAULT_REPOSITORIES_PAGE = 100;
export const MAX_TAGS_PAGE = 100;
const DEFAULT_TAGS_PAGE = 50;
/** Manifest and config bytes one listing page may read. */
const LISTING_READ_BYTES = 64 * 1024 * 1024;
/** Manifests summarized at the same time. */
const CONCURRENCY = 6;

type RoutedRequest = Request & { params?: Record<string, string> };

export async function listRepositories(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const details = flag(url, "details");
  const n = pageSize(url, details ? MAX_DETAILED_PAGE : MAX_REPOSITORIES_PAGE) ?? DEFAULT_REPOSITORIES_PAGE;
  const pattern = url.searchParams.get("pattern") || null;
  const matches = pattern === null ? () => true : compileRepositoryGlob(pattern);
  // A pattern narrows the catalog scan to its literal prefix, then filters the page it read.
  const prefix = url.searchParams.get("prefix") ?? (pattern ? globPrefix(pattern) : "");
  const last = url.searchParams.get("last") ?? undefined;
  const page = n === 0 ? { names: [], more: false } : await catalogStub(env).list(n, last, prefix);
  const caller = callerOf(request);
  const next = page.more ? (page.names.at(-1) ?? null) : null;
  const headers: Record<string, string> = { "Cache-Control": "no-cache" };
  if (next !== null) headers["Link"] = withQuery(nextLink("/api/v1/repositories", n, next), { prefix: url.searchParams.get("prefix") ?? "", pattern: pattern ?? "", details: details ? "1" : "" });
  // Only what the caller may pull; a page may then hold fewer than n entries (next still follows).
  const names = page.names.filter((name) => matches(name) && caller.lists(name));
  const repositories = await mapLimited(names, CONCURRENCY, async (name) => {
    const kind = kindOf(env, name);
    const entry = { name, kind, ...(kind === "cached" ? { upstream: name.split("/")[0] } : {}), tags: `/api/v1/repositories/${name}/tags` };
    if (!details) return entry;
    const summary = await repositoryStub(env, name).summary();
    return { ...entry, tagCount: summary.tags, manifestCount: summary.manifests, updatedAt: summary.updatedAt === null ? null : new Date(summary.updatedAt).toISOString() };
  });
  return jsonResponse({ repositories, next }, 200, headers);
}

/** hosted or cached, as openRepository decides (no I/O). */
function kindOf(env: Env, name: string): string {
  try {
    return openRepository(env, name).kind;
  } catch {
    return "unknown";
  }
}

export interface TagEntry extends ImageSummary {
  /** null for dangling manifests. */
  tag: string | null;
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  manifestSize: number;
  /** When the tag last moved (for dangling manifests: when the manifest was pushed), ISO 8601. */
  updatedAt: string;
}

interface Row {
  key: string;
  tag: string | null;
  digest: string;
  mediaType: string;
  manifestSize: number;
  updatedAt: number;
}

export async function listRepositoryTags(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const repository = openRepository(env, param(request, "name"), ctx ? { waitUntil: (promise) => ctx.waitUntil(promise) } : {});
  const n = pageSize(url, MAX_TAGS_PAGE) ?? DEFAULT_TAGS_PAGE;
  const last = url.searchParams.get("last") ?? undefined;
  const pattern = url.searchParams.get("pattern");
  const dangling = flag(url, "dangling");
  if (dangling && pattern !== null) {
    throw new OciError("UNSUPPORTED", "pattern filters tags; dangling manifests have none: use one or the other", { pattern, dangling }, 400);
  }
  const matches = pattern !== null && pattern !== "" ? compileGlob(pattern) : everyTag;

  const { rows: page, next } = dangling ? await danglingRows(repository, n, last) : await tagRows(repository, n, last, matches);
  if (page.length === 0) await assertExists(repository);

  // Each entry reads its manifest and at most MAX_CHILDREN children (image-summary.ts).
  const reader = new ManifestReader(repository, { manifests: page.length * (MAX_CHILDREN + 1), bytes: LISTING_READ_BYTES });
  const entries = await mapLimited(page, CONCURRENCY, async (row): Promise<TagEntry> => {
    const summary = await summarize(reader, row.digest);
    return {
      tag: row.tag,
      digest: row.digest,
      mediaType: row.mediaType,
      manifestSize: row.manifestSize,
      ...summary,
      updatedAt: new Date(row.updatedAt).toISOString(),
    };
  });

  const headers: Record<string, string> = { "Cache-Control": "no-cache" };
  if (next !== null) {
    const extra: Record<string, string> = {};
    if (pattern) extra["pattern"] = pattern;
    if (dangling) extra["dangling"] = "1";
    headers["Link"] = withQuery(nextLink(`/api/v1/repositories/${repository.name}/tags`, n, next), extra);
  }
  return jsonResponse(
    {
      repository: repository.name,
      kind: repository.kind,
      filter: { pattern: pattern || null, dangling },
      tags: entries,
      next,
    },
    200,
    headers,
  );
}

/** One page of dangling manifests, oldest first; `next` is the Durable Object's cursor. */
async function danglingRows(repository: Repository, n: number, last: string | undefined): Promise<{ rows: Row[]; next: string | null }> {
  const page = await repository.danglingManifests(n, last);
  const rows = page.items.map((m) => ({ key: m.digest, tag: null, digest: m.digest, mediaType: m.mediaType, manifestSize: m.size, updatedAt: m.createdAt }));
  return { rows, next: page.next ?? null };
}

/**
 * Up to `n` tags after `last` that match, in lexical order. The repository is
 * read in pages, so a pattern that matches little costs at most one pass over
 * the repository's tags (MAX_TAGS_PER_REPOSITORY), never one answer that large.
 */
async function tagRows(repository: Repository, n: number, last: string | undefined, matches: (tag: string) => boolean): Promise<{ rows: Row[]; next: string | null }> {
  const rows: Row[] = [];
  const scan = matches === everyTag ? n + 1 : MAX_LIST_PAGE;
  for (let after = last; ; ) {
    const page = await repository.tagDetails(scan, after);
    for (const t of page.items) {
      if (!matches(t.tag)) continue;
      if (rows.length === n) return { rows, next: rows.at(-1)?.key ?? null };
      rows.push({ key: t.tag, tag: t.tag, digest: t.digest, mediaType: t.mediaType, manifestSize: t.size, updatedAt: t.updatedAt });
    }
    if (page.next === undefined) return { rows, next: null };
    after = page.next;
  }
}

const everyTag = (): boolean => true;

function flag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  if (value === null || value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  throw new OciError("UNSUPPORTED", `${name}=${value}: use ${name}=1 or ${name}=0`, { [name]: value }, 400);
}

async function assertExists(repository: Repository): Promise<void> {
  // listTags answers NAME_UNKNOWN for a repository without manifests or tags.
  try {
    await repository.listTags(1, undefined);
  } catch (error) {
    if (error instanceof OciError && error.code === "NAME_UNKNOWN") {
      throw new OciError("NAME_UNKNOWN", `repository ${repository.name} is unknown`, { repository: repository.name });
    }
    throw error;
  }
}

/** Adds parameters inside a `<url>; rel="next"` Link value. */
function withQuery(link: string, extra: Record<string, string>): string {
  const entries = Object.entries(extra).filter(([, value]) => value !== "");
  if (entries.length === 0) return link;
  return link.replace(/>; rel="next"$/, `&${new URLSearchParams(entries)}>; rel="next"`);
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
