// The one place that decides which Repository implementation serves a name:
// `<upstream>/<path>` (or ?ns=<upstream>) → a cached repository of that
// upstream; anything else → a hosted repository, which in mirror mode falls
// back to the default upstream for what it does not have (unless ns names a
// registry that is not configured here).

import { loadConfig } from "../config";
import { assertName } from "../oci/names";
import { findUpstream, mirrorTarget, resolveUpstreamName } from "../upstream/config";
import type { WaitUntil } from "../upstream/recording-observer";
import { CachedRepository } from "./cached-repository";
import { HostedRepository } from "./hosted-repository";
import { mirroredRepository } from "./mirrored-repository";
import type { Repository } from "./repository";

export interface OpenOptions {
  /** containerd's mirror parameter: the upstream host the client meant. */
  ns?: string | null;
  /** Lets cache fills and stats finish after the response is sent. */
  waitUntil?: WaitUntil;
  /** Who writes (tag history): the caller's identity name. */
  actor?: string | null;
}

export function openRepository(env: Env, name: string, options: OpenOptions = {}): Repository {
  assertName(name);
  const config = loadConfig(env);
  const upstreams = config.upstreams;
  const waitUntil = options.waitUntil ?? ((promise: Promise<unknown>) => void promise.catch(() => undefined));
  const target = resolveUpstreamName(upstreams, name, options.ns);
  if (target) return new CachedRepository(env, `${target.upstream.name}/${target.repository}`, target, waitUntil);
  const hosted = new HostedRepository(env, name, options.actor ?? null);
  if (!config.mirrorMode) return hosted;
  // containerd names the registry it meant in ns: a host with no upstream here is not Docker
  // Hub, so its names must not be read from the default upstream (quay.io/org/app would
  // silently become docker.io/org/app, whoever owns that name there).
  if (options.ns && !findUpstream(upstreams, options.ns)) return hosted;
  const mirror = mirrorTarget(upstreams, name);
  return mirroredRepository(hosted, () => new CachedRepository(env, `${mirror.upstream.name}/${mirror.repository}`, mirror, waitUntil));
}
