import { loadConfig } from "../config";
import { upstreamStatsStub } from "../upstream/stats-do";
import { jsonResponse } from "../http/responses";

/** GET /api/v1/upstreams — configuration and traffic figures per upstream. */
export async function listUpstreams(_request: Request, env: Env): Promise<Response> {
  const config = loadConfig(env).upstreams;
  const upstreams = await Promise.all(
    config.upstreams.map(async (upstream) => ({
      name: upstream.name,
      url: upstream.url,
      aliases: upstream.aliases,
      tagTtlSeconds: upstream.tagTtlSeconds,
      authenticated: upstream.credentials !== undefined,
      default: upstream.name === config.defaultUpstream.name,
      stats: await upstreamStatsStub(env, upstream.name).snapshot(upstream.name),
    })),
  );
  return jsonResponse({ upstreams });
}
