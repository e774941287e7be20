// Every endpoint, in one table. Handlers speak HTTP and the OCI protocol;
// repositories (src/registry) hold the data.

import { Router } from "itty-router";
import { ConfigError, loadConfig } from "../config";
import { listUpstreams } from "../api/upstreams";
import { inspect } from "../api/inspect";
import { listRepositories, listRepositoryTags } from "../api/repositories";
import { resolve } from "../api/resolve";
import { fsck, retention } from "../api/admin";
import { repositoryHistory } from "../api/history";
import { repositoryUsageHandler } from "../api/usage";
import { imageStorage } from "../api/image-storage";
import { listImages } from "../api/images";
import { OciError } from "./errors";
import { deleteBlob, getBlob } from "./v2/blobs";
import { catalog, listTags, referrers } from "./v2/listings";
import { deleteManifest, getManifest, putManifest } from "./v2/manifests";
import { cancelUpload, patchUpload, putUpload, startUpload, uploadStatus } from "./v2/uploads";

const API_VERSION = { "Docker-Distribution-API-Version": "registry/2.0" };

function ping(): Response {
  return new Response("{}", { status: 200, headers: { "Content-Type": "application/json", ...API_VERSION } });
}

function notFound(request: Request): Response {
  return new OciError("NAME_UNKNOWN", `no route for ${request.method} ${new URL(request.url).pathname}`, undefined, 404).toResponse(request.method);
}

function renderError(error: unknown, request: Request): Response {
  if (error instanceof OciError) return error.toResponse(request.method);
  if (error instanceof ConfigError) return new OciError("INTERNAL", error.message, undefined, 500).toResponse(request.method);
  console.error("unexpected error", request.method, request.url, error);
  return new OciError("INTERNAL", "internal error; see the Worker logs").toResponse(request.method);
}

/** On every answer: the API version clients look for, and no MIME sniffing of blobs or JSON into HTML. */
const COMMON_HEADERS: Record<string, string> = { ...API_VERSION, "X-Content-Type-Options": "nosniff" };

function withCommonHeaders(response: Response): Response {
  const missing = Object.entries(COMMON_HEADERS).filter(([name]) => !response.headers.has(name));
  if (missing.length === 0) return response;
  try {
    for (const [name, value] of missing) response.headers.set(name, value);
    return response;
  } catch {
    // Responses from fetch() or the ASSETS binding have immutable headers.
    const copy = new Response(response.body, response);
    for (const [name, value] of missing) copy.headers.set(name, value);
    return copy;
  }
}

const router = Router({
  before: [(_request: Request, env: Env) => void loadConfig(env)],
  catch: renderError,
  finally: [withCommonHeaders],
});

router
  .get("/v2", ping)
  .get("/v2/", ping)
  .head("/v2/", ping)
  .get("/v2/_catalog", catalog)
  .get("/v2/:name+/tags/list", listTags)
  .get("/v2/:name+/referrers/:digest", referrers)
  .get("/v2/:name+/manifests/:reference", getManifest)
  .head("/v2/:name+/manifests/:reference", getManifest)
  .put("/v2/:name+/manifests/:reference", putManifest)
  .delete("/v2/:name+/manifests/:reference", deleteManifest)
  .post("/v2/:name+/blobs/uploads", startUpload)
  .get("/v2/:name+/blobs/uploads/:id", uploadStatus)
  .patch("/v2/:name+/blobs/uploads/:id", patchUpload)
  .put("/v2/:name+/blobs/uploads/:id", putUpload)
  .delete("/v2/:name+/blobs/uploads/:id", cancelUpload)
  .get("/v2/:name+/blobs/:digest", getBlob)
  .head("/v2/:name+/blobs/:digest", getBlob)
  .delete("/v2/:name+/blobs/:digest", deleteBlob)
  .all("/v2/*", notFound)
  .get("/api/v1/upstreams", listUpstreams)
  .get("/api/v1/resolve", resolve)
  .get("/api/v1/inspect", inspect)
  .get("/api/v1/repositories", listRepositories)
  .get("/api/v1/repositories/:name+/tags", listRepositoryTags)
  .get("/api/v1/repositories/:name+/history", repositoryHistory)
  .get("/api/v1/repositories/:name+/usage", repositoryUsageHandler)
  .get("/api/v1/repositories/:name+/images/:digest", imageStorage)
  .get("/api/v1/images", listImages)
  .post("/api/v1/admin/fsck", fsck)
  .post("/api/v1/admin/retention", retention)
  .all("/api/*", notFound)
  .all("*", (request: Request, env: Env) => env.ASSETS.fetch(request));

export async function handle(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  // The JSON API answers HEAD like GET, without the body (curl -I, uptime checks).
  if (request.method === "HEAD" && new URL(request.url).pathname.startsWith("/api/")) {
    const response: Response = await router.fetch(new Request(request, { method: "GET" }), env, ctx);
    await response.body?.cancel();
    return new Response(null, response);
  }
  return router.fetch(request, env, ctx);
}
