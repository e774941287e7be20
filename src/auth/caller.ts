// The caller of a request, as the gate established it: who (Identity) and what
// they may do. Two shapes: a caller known by identity and grants (no
// credentials → anonymous; Basic credentials or a robot token sent straight to
// the registry; open mode), and a caller holding a Berth token, which may do
// exactly what the token's `access` claim says.

import { grantedActions, isAdmin, mayPull } from "./grants";
import type { Action, Identity } from "./identity";
import type { NameRules } from "./names";
import { accessFor } from "./scope";
import type { TokenClaims } from "./tokens";

/** yes; the token does not mention it (ask again); refused (asked, or known not granted). */
export type Decision = "yes" | "unasked" | "refused";

export interface Caller {
  identity: Identity;
  /** The robot token behind the credentials, if any (re-checked for revocation). */
  robotId?: string;
  /** May the caller do `action` on repository `name`? */
  may(name: string, action: Action): Decision;
  /** The registry-wide scopes: `catalog` (listings, filtered by `lists`) and `admin`. */
  mayRegistry(scope: "catalog" | "admin"): Decision;
  /** Does a listing show this repository to the caller? Only meaningful when mayRegistry("catalog") is yes. */
  lists(name: string): boolean;
}

export function grantCaller(identity: Identity, names: NameRules, robotId?: string): Caller {
  return {
    identity,
    robotId,
    may: (name, action) => (grantedActions(identity.grants, names.canonical(name), names.shadows(name)).has(action) ? "yes" : "refused"),
    mayRegistry: (scope) => (scope === "catalog" || isAdmin(identity.grants) ? "yes" : "refused"),
    lists: (name) => mayPull(identity.grants, names.canonical(name)),
  };
}

export function tokenCaller(claims: TokenClaims): Caller {
  const identity: Identity = { kind: claims.kind, name: claims.sub, grants: claims.grants ?? [] };
  const decide = (actions: Set<string> | null, action: string): Decision => {
    if (actions === null) return "unasked";
    return actions.has(action) || actions.has("*") ? "yes" : "refused";
  };
  return {
    identity,
    robotId: claims.rob,
    may: (name, action) => decide(accessFor(claims.access, "repository", name), action),
    mayRegistry: (scope) => decide(accessFor(claims.access, "registry", scope), "*"),
    // Names as asked in listings are the names grants were matched against at issue time.
    lists: (name) => claims.grants !== undefined && mayPull(claims.grants, name),
  };
}
