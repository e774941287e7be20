import { openRepository } from "../../registry/open-repository";
import type { Repository } from "../../registry/repository";
import { actorOf } from "../../auth/gate";
import { param } from "../request";

export type RoutedRequest = Request & { params?: Record<string, string> };

/** The repository named in the route (`:name+`), validated; `?ns=` selects an upstream (containerd). */
export function repositoryOf(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Repository {
  return openRepository(env, param(request, "name"), {
    ns: new URL(request.url).searchParams.get("ns"),
    waitUntil: ctx ? (promise) => ctx.waitUntil(promise) : undefined,
    actor: actorOf(request),
  });
}

export function repositoryPath(name: string): string {
  return `/v2/${name}`;
}
