import { openRepository } from "../../registry/open-repository";
import type { Repository } from "../../registry/repository";
import { param } from "../request";

export type RoutedRequest = Request & { params?: Record<string, string> };

/** The repository named in the route (`:name+`), validated. */
export function repositoryOf(request: RoutedRequest, env: Env): Repository {
  return openRepository(env, param(request, "name"));
}

export function repositoryPath(name: string): string {
  return `/v2/${name}`;
}
