// Grant matching: which actions a list of grants allows on a repository name.
// Patterns are the retention globs (src/registry/glob.ts): `*` one segment,
// `**` any number. Pure.

import { compilePattern } from "../registry/glob";
import type { Action, Grant } from "./identity";

const compiled = new Map<string, (name: string) => boolean>();

function matcher(pattern: string): (name: string) => boolean {
  let match = compiled.get(pattern);
  if (!match) {
    match = compilePattern(pattern);
    // Patterns come from configuration and robot tokens: few; the bound only guards memory.
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, match);
  }
  return match;
}

/**
 * The union of the actions every grant whose pattern matches `name` allows. For a name that
 * stands in for another registry (`shadowing`, src/auth/names.ts), push comes only from a grant
 * that names the first segment literally (`registry.corp.example/**`, `library/**`): `**` or
 * `*` /… never lets anybody push a look-alike of an upstream's image.
 */
export function grantedActions(grants: readonly Grant[], name: string, shadowing = false): Set<Action> {
  const actions = new Set<Action>();
  for (const grant of grants) {
    if (!matcher(grant.repositories)(name)) continue;
    const explicit = !/[*?]/.test(grant.repositories.split("/")[0]!);
    for (const action of grant.actions) if (action !== "push" || !shadowing || explicit) actions.add(action);
  }
  return actions;
}

/** The admin API is registry-wide: it needs `admin` on every repository (`**`). */
export function isAdmin(grants: readonly Grant[]): boolean {
  return grants.some((grant) => grant.repositories === "**" && grant.actions.includes("admin"));
}

/** May the holder of these grants see this repository at all (catalog, listings)? */
export function mayPull(grants: readonly Grant[], name: string): boolean {
  return grantedActions(grants, name).has("pull");
}
