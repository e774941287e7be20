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
import { admit, withCachePolicy, type RouteAccess } from "../auth/gate";
import { getToken, postToken } from "../auth/token-endpoint";
import { createRobotToken, listRobotTokens, revokeRobotToken } from "../api/robot-tokens";
import { OciError } from "./errors";
import { chunkTooLarge, drainUnread, refuseDeclaredLength, waitUntilOf } from "./request-body";
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
  before: [(request: Request, env: Env) => refuseDeclaredLength(request, loadConfig(env).maxChunkBytes, () => chunkTooLarge(loadConfig(env).maxChunkBytes))],
  catch: renderError,
  finally: [withCommonHeaders],
});

type Handler = (request: Request & { params?: Record<string, string> }, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
type Method = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE" | "ALL";

export interface Route {
  method: Method;
  path: string;
  /** What the caller needs (src/auth/gate.ts). Required: a route cannot be added without saying who may call it. */
  access: RouteAccess;
  handler: Handler;
}

const PULL = { repository: ["pull"] } as const;
const PUSH = { repository: ["pull", "push"] } as const;
const DELETE = { repository: ["delete"] } as const;

/** Every endpoint. test/auth/routes.test.ts walks this table: each route is public by design or refused without credentials. */
export const ROUTES: readonly Route[] = [
  { method: "GET", path: "/token", access: { public: "the token endpoint: where clients log in" }, handler: getToken },
  { method: "POST", path: "/token", access: { public: "the token endpoint (OAuth2 form)" }, handler: postToken },
  { method: "GET", path: "/v2", access: { signedIn: true }, handler: ping },
  { method: "GET", path: "/v2/", access: { signedIn: true }, handler: ping },
  { method: "HEAD", path: "/v2/", access: { signedIn: true }, handler: ping },
  { method: "GET", path: "/v2/_catalog", access: { catalog: true }, handler: catalog },
  { method: "GET", path: "/v2/:name+/tags/list", access: PULL, handler: listTags },
  { method: "GET", path: "/v2/:name+/referrers/:digest", access: PULL, handler: referrers },
  { method: "GET", path: "/v2/:name+/manifests/:reference", access: PULL, handler: getManifest },
  { method: "HEAD", path: "/v2/:name+/manifests/:reference", access: PULL, handler: getManifest },
  { method: "PUT", path: "/v2/:name+/manifests/:reference", access: PUSH, handler: putManifest },
  { method: "DELETE", path: "/v2/:name+/manifests/:reference", access: DELETE, handler: deleteManifest },
  { method: "POST", path: "/v2/:name+/blobs/uploads", access: PUSH, handler: startUpload },
  { method: "GET", path: "/v2/:name+/blobs/uploads/:id", access: PUSH, handler: uploadStatus },
  { method: "PATCH", path: "/v2/:name+/blobs/uploads/:id", access: PUSH, handler: patchUpload },
  { method: "PUT", path: "/v2/:name+/blobs/uploads/:id", access: PUSH, handler: putUpload },
  { method: "DELETE", path: "/v2/:name+/blobs/uploads/:id", access: PUSH, handler: cancelUpload },
  { method: "GET", path: "/v2/:name+/blobs/:digest", access: PULL, handler: getBlob },
  { method: "HEAD", path: "/v2/:name+/blobs/:digest", access: PULL, handler: getBlob },
  { method: "DELETE", path: "/v2/:name+/blobs/:digest", access: DELETE, handler: deleteBlob },
  { method: "ALL", path: "/v2/*", access: { signedIn: true }, handler: notFound },
  { method: "GET", path: "/api/v1/upstreams", access: { catalog: true }, handler: listUpstreams },
  { method: "GET", path: "/api/v1/resolve", access: { lookup: true }, handler: resolve },
  { method: "GET", path: "/api/v1/inspect", access: { lookup: true }, handler: inspect },
  { method: "GET", path: "/api/v1/repositories", access: { catalog: true }, handler: listRepositories },
  { method: "GET", path: "/api/v1/repositories/:name+/tags", access: PULL, handler: listRepositoryTags },
  { method: "GET", path: "/api/v1/repositories/:name+/history", access: PULL, handler: repositoryHistory },
  { method: "GET", path: "/api/v1/repositories/:name+/usage", access: PULL, handler: repositoryUsageHandler },
  { method: "GET", path: "/api/v1/repositories/:name+/images/:digest", access: PULL, handler: imageStorage },
  { method: "GET", path: "/api/v1/images", access: { catalog: true }, handler: listImages },
  { method: "POST", path: "/api/v1/admin/fsck", access: { admin: true }, handler: fsck },
  { method: "POST", path: "/api/v1/admin/retention", access: { admin: true }, handler: retention },
  { method: "POST", path: "/api/v1/admin/tokens", access: { admin: true }, handler: createRobotToken },
  { method: "GET", path: "/api/v1/admin/tokens", access: { admin: true }, handler: listRobotTokens },
  { method: "DELETE", path: "/api/v1/admin/tokens/:id", access: { admin: true }, handler: revokeRobotToken },
  { method: "ALL", path: "/api/*", access: { public: "no such endpoint: 404 for everybody" }, handler: notFound },
  { method: "ALL", path: "*", access: { public: "the UI's static files" }, handler: (request, env) => env.ASSETS.fetch(request) },
];

for (const route of ROUTES) {
  const gated: Handler = async (request, env, ctx) => {
    await admit(request, env, route.access);
    return withCachePolicy(request, await route.handler(request, env, ctx));
  };
  const method = route.method === "ALL" ? "all" : (route.method.toLowerCase() as Lowercase<Exclude<Method, "ALL">>);
  router[method](route.path, gated);
}

export async function handle(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  // The JSON API answers HEAD like GET, without the body (curl -I, uptime checks).
  if (request.method === "HEAD" && new URL(request.url).pathname.startsWith("/api/")) {
    const response: Response = await router.fetch(new Request(request, { method: "GET" }), env, ctx);
    await response.body?.cancel();
    return new Response(null, response);
  }
  const response: Response = await router.fetch(request, env, ctx);
  // A body declared larger than the limit is answered at once and read away in the background
  // (wrangler dev's middleware would otherwise read it all before the 413 goes out). Other bodies
  // an answer did not need are left to the runtime: reading them here too made wrangler dev's
  // proxy hang the connection's next request (a PATCH answered 416, then its status GET).
  if (response.status === 413) drainUnread(request, waitUntilOf(ctx));
  return response;
}
