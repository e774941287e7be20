import { callerOf } from "../../auth/gate";
import { catalogStub } from "../../registry/catalog-do";
import { MAX_LIST_PAGE } from "../../registry/limits";
import { parseDigest } from "../../oci/digest";
import { MediaType } from "../../oci/media-types";
import { jsonResponse, nextLink } from "../responses";
import { pageSize, param } from "../request";
import { repositoryOf, repositoryPath, type RoutedRequest } from "./context";

const MAX_PAGE = 10_000;
const DEFAULT_CATALOG_PAGE = 1_000;

/** GET /v2/<name>/tags/list[?n=&last=] */
export async function listTags(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const url = new URL(request.url);
  const n = pageSize(url, MAX_PAGE);
  const page = await repository.listTags(n, url.searchParams.get("last") ?? undefined);
  const headers: Record<string, string> = {};
  if (page.next !== undefined) headers["Link"] = nextLink(`${repositoryPath(repository.name)}/tags/list`, n ?? MAX_PAGE, page.next);
  return jsonResponse({ name: repository.name, tags: page.items }, 200, headers);
}

/** GET /v2/_catalog[?n=&last=] */
export async function catalog(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const n = pageSize(url, MAX_PAGE) ?? DEFAULT_CATALOG_PAGE;
  const page = await catalogStub(env).list(n, url.searchParams.get("last") ?? undefined);
  const headers: Record<string, string> = {};
  const last = page.names.at(-1);
  if (page.more && last !== undefined) headers["Link"] = nextLink("/v2/_catalog", n, last);
  // Only what the caller may pull; a page may then hold fewer than n names (the Link still follows).
  const caller = callerOf(request);
  return jsonResponse({ repositories: page.names.filter((name) => caller.lists(name)) }, 200, headers);
}

/**
 * GET /v2/<name>/referrers/<digest>[?artifactType=&n=&last=] — always an index, never 404.
 * Pages end at `n` entries (default and most MAX_LIST_PAGE) or REFERRERS_PAGE_BYTES of
 * descriptors; as the spec asks, a `Link: <…>; rel="next"` header then names the next page.
 */
export async function referrers(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const digest = parseDigest(param(request, "digest")).digest;
  const url = new URL(request.url);
  const artifactType = url.searchParams.get("artifactType") ?? undefined;
  const n = pageSize(url, MAX_LIST_PAGE) ?? MAX_LIST_PAGE;
  const page = await repository.referrers(digest, artifactType, n, url.searchParams.get("last") ?? undefined);
  const headers: Record<string, string> = { "Content-Type": MediaType.OciIndex };
  if (artifactType !== undefined) headers["OCI-Filters-Applied"] = "artifactType";
  if (page.next !== undefined) {
    const query = new URLSearchParams({ n: String(n), last: page.next, ...(artifactType !== undefined ? { artifactType } : {}) });
    headers["Link"] = `<${repositoryPath(repository.name)}/referrers/${digest}?${query}>; rel="next"`;
  }
  return new Response(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: page.items }), { status: 200, headers });
}
