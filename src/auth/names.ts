// Which name a grant is matched against. Grants are written for the names
// repositories are kept under: a cached repository reached through an alias
// (index.docker.io/x) or through containerd's ?ns= is checked as its upstream's
// name (docker.io/x), so no spelling reaches data under a name the grants do not cover.

import { loadConfig } from "../config";
import { resolveUpstreamName } from "../upstream/config";

export function canonicalName(env: Env, name: string, ns: string | null = null): string {
  try {
    const target = resolveUpstreamName(loadConfig(env).upstreams, name, ns);
    return target ? `${target.upstream.name}/${target.repository}` : name;
  } catch {
    // A name the registry will refuse anyway (NAME_INVALID): checked as given.
    return name;
  }
}

/**
 * Does a hosted repository of this name stand in for another registry's image? In Docker Hub
 * mirror mode every un-prefixed name does (dockerd asks Berth for Docker Hub's `library/nginx`);
 * a first segment that looks like a host (`registry.corp.example/team/app`, `localhost:5000/x`)
 * does too — references to that host resolve here. Pushing to such a name needs a grant naming
 * it explicitly (src/auth/grants.ts). Names routed to an upstream's cache are not hosted at all.
 */
export function shadowsUpstream(env: Env, name: string): boolean {
  try {
    if (resolveUpstreamName(loadConfig(env).upstreams, name, null)) return false;
  } catch {
    return false;
  }
  const first = name.split("/")[0]!;
  if (name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) return true;
  return loadConfig(env).mirrorMode;
}

/** How grants read names: canonical spelling, and whether the name shadows an upstream. */
export interface NameRules {
  canonical(name: string): string;
  shadows(name: string): boolean;
}

export function nameRules(env: Env): NameRules {
  return { canonical: (name) => canonicalName(env, name), shadows: (name) => shadowsUpstream(env, name) };
}
