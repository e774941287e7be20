// Scopes as the docker token protocol spells them: `repository:<name>:<actions>`
// (actions comma-separated, `*` = all) and `registry:catalog:*`. A challenge
// names the scope a request needs; the token endpoint grants the part of each
// asked scope the caller's grants allow. Pure.

import { ACTIONS, type Action } from "./identity";

export interface Scope {
  type: "repository" | "registry";
  /** A repository name, or for registry scopes `catalog` / `admin`. */
  name: string;
  actions: Action[];
}

/** What a token says it allows: the `access` claim, in distribution's shape. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** `registry:catalog:*`: list the repositories the caller may pull. */
export const CATALOG_SCOPE: Scope = { type: "registry", name: "catalog", actions: ["pull"] };
/** `registry:admin:*`: the admin API (maintenance, robot tokens). */
export const ADMIN_SCOPE: Scope = { type: "registry", name: "admin", actions: ["admin"] };

const ACTION_SET = new Set<string>(ACTIONS);

/**
 * Parses one `scope` parameter. Unknown types and actions are dropped, not errors: a client
 * may ask for more than exists and gets a token holding less. Returns null when nothing usable
 * is left. The name may itself hold `:` (a registry host with a port), so the type is the
 * first field and the actions the last.
 */
export function parseScope(raw: string): Scope | null {
  const first = raw.indexOf(":");
  const last = raw.lastIndexOf(":");
  if (first <= 0 || last === first) return null;
  const type = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const words = raw.slice(last + 1).split(",").map((word) => word.trim());
  if (name === "") return null;
  if (type === "registry") {
    if (name === "catalog" && words.includes("*")) return CATALOG_SCOPE;
    if (name === "admin" && words.includes("*")) return ADMIN_SCOPE;
    return null;
  }
  if (type !== "repository") return null;
  const actions = words.includes("*") ? [...ACTIONS].filter((a) => a !== "admin") : words.filter((word): word is Action => ACTION_SET.has(word) && word !== "admin");
  return actions.length === 0 ? null : { type, name, actions: unique(actions) };
}

/** Every `scope` parameter (each may hold several scopes separated by spaces, as OAuth2 does). */
export function parseScopes(values: string[]): Scope[] {
  return mergeScopes(values.flatMap((value) => value.split(" ")).filter((s) => s !== "").map(parseScope).filter((s): s is Scope => s !== null));
}

/** Scopes for the same resource are merged into one with the union of their actions. */
export function mergeScopes(scopes: Scope[]): Scope[] {
  const byKey = new Map<string, Scope>();
  for (const scope of scopes) {
    const key = `${scope.type}:${scope.name}`;
    const known = byKey.get(key);
    byKey.set(key, known ? { ...known, actions: unique([...known.actions, ...scope.actions]) } : scope);
  }
  return [...byKey.values()];
}

export function formatScope(scope: Scope): string {
  if (scope.type === "registry") return `registry:${scope.name}:*`;
  return `repository:${scope.name}:${scope.actions.join(",")}`;
}

export function toAccessEntry(scope: Scope): AccessEntry {
  // A refused scope stays in the token with no actions: the gate then answers 403, not "ask again".
  if (scope.type === "registry") return { type: scope.type, name: scope.name, actions: scope.actions.length > 0 ? ["*"] : [] };
  return { type: scope.type, name: scope.name, actions: [...scope.actions] };
}

/** The actions an access claim allows on a resource; null when the claim never mentions it. */
export function accessFor(access: readonly AccessEntry[], type: Scope["type"], name: string): Set<string> | null {
  let found: Set<string> | null = null;
  for (const entry of access) {
    if (entry.type !== type || entry.name !== name) continue;
    found ??= new Set();
    for (const action of entry.actions) found.add(action);
  }
  return found;
}

/** Without repeats, in the canonical order (pull before push), so challenges and tokens read the same. */
function unique(values: Action[]): Action[] {
  const set = new Set(values);
  return ACTIONS.filter((action) => set.has(action));
}
