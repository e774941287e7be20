// GET /api/v1/repositories/<name>/usage[?fresh=1]
//
// Storage figures: bytes of blobs only this repository links (unique) and of
// blobs other repositories link too (shared). Figures up to ten minutes old
// are served from the repository's cache; fresh=1 recomputes them.

import { OciError } from "../http/errors";
import { param } from "../http/request";
import { jsonResponse } from "../http/responses";
import { openRepository } from "../registry/open-repository";
import { repositoryUsage } from "../registry/usage";

type RoutedRequest = Request & { params?: Record<string, string> };

export async function repositoryUsageHandler(request: RoutedRequest, env: Env): Promise<Response> {
  // Aliases of cached repositories resolve to the name their state is kept under.
  const name = openRepository(env, param(request, "name")).name;
  const fresh = ["1", "true"].includes(new URL(request.url).searchParams.get("fresh") ?? "");
  const usage = await repositoryUsage(env, name, fresh ? { maxAgeMs: 0 } : {});
  if (usage.manifests === 0 && usage.blobs === 0) throw new OciError("NAME_UNKNOWN", `repository ${name} is unknown`, { repository: name });
  return jsonResponse(usage, 200, { "Cache-Control": "no-cache" });
}
