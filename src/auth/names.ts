// Which name a grant is matched against. Grants are written for the names
// repositories are kept under: a cached repository reached through an alias
// (index.docker.io/x) or through containerd's ?ns= is checked as its upstream's
// name (docker.io/x), so no spelling reaches data under a name the grants do not cover.

import { upstreamsOf } from "../registry/open-repository";
import { resolveUpstreamName } from "../upstream/config";

export function canonicalName(env: Env, name: string, ns: string | null = null): string {
  try {
    const target = resolveUpstreamName(upstreamsOf(env), name, ns);
    return target ? `${target.upstream.name}/${target.repository}` : name;
  } catch {
    // A name the registry will refuse anyway (NAME_INVALID): checked as given.
    return name;
  }
}
