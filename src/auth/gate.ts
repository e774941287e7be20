// The one gate every route passes (src/http/router.ts wraps each handler with
// it). A route declares what it needs (RouteAccess); the gate establishes the
// caller from the Authorization header — none (anonymous), Basic, a Berth
// token, or a non-JWT Bearer secret — and answers the way docker's token
// protocol expects:
//   no or bad credentials, or an anonymous caller lacking a grant → 401 with
//     `WWW-Authenticate: Bearer realm="<origin>/token",service=…,scope=<what this request needs>`;
//   a token that never mentioned the resource → 401 with error="insufficient_scope" (the
//     client asks /token again for that scope);
//   an authenticated caller refused (by its grants, or the token says so) → 403 DENIED.

import { OciError } from "../http/errors";
import { param } from "../http/request";
import { loadAuthConfig, type AuthConfig } from "./auth-config";
import { grantCaller, tokenCaller, type Caller, type Decision } from "./caller";
import { authenticate, type PresentedCredentials, type SourceContext } from "./credentials";
import type { Action, Identity } from "./identity";
import { looksLikeJwt } from "./jwt";
import { guardLogin } from "./login-throttle";
import { warnOpen } from "./open-mode";
import { robotPrincipal } from "./robot-tokens";
import { ADMIN_SCOPE, CATALOG_SCOPE, formatScope, type Scope } from "./scope";
import { readAccessToken } from "./tokens";
import { canonicalName, nameRules, type NameRules } from "./names";

/** What a route needs. Every route in the router declares one; there is no default. */
export type RouteAccess =
  /** Anybody, by design (the token endpoint, static files); the string says why. */
  | { public: string }
  /** Valid credentials of any kind (an anonymous token counts): `/v2/` answers 401 without, as registries do — that is how clients find the token endpoint. */
  | { signedIn: true }
  /** These actions on the repository named by the route's `:name`. */
  | { repository: readonly Action[] }
  /** A listing: shows only what the caller may pull. */
  | { catalog: true }
  /** The admin API. */
  | { admin: true }
  /** The JSON API's ?ref= lookups: the handler names the repository and calls requireRepository. */
  | { lookup: true };

interface Admitted {
  caller: Caller;
  realm: string;
  service: string;
}

const admitted = new WeakMap<Request, Admitted>();

const ALL_GRANTS: Identity["grants"] = [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }];

/** Runs the gate for a route; the caller is then available to the handler through callerOf. */
export async function admit(request: Request, env: Env, access: RouteAccess): Promise<void> {
  const config = loadAuthConfig(env);
  const url = new URL(request.url);
  const service = config.service ?? url.host;
  const names = nameRules(env);
  if (config.mode === "open") {
    warnOpen(request);
    // Everything, look-alikes of upstream names included (they need no explicit grant here).
    const caller = grantCaller({ kind: "anonymous", name: "anonymous", grants: ALL_GRANTS }, { ...names, shadows: () => false });
    admitted.set(request, { caller, realm: `${url.origin}/token`, service });
    return;
  }
  const state: Admitted = { caller: anonymous(config, names), realm: `${url.origin}/token`, service };
  admitted.set(request, state);
  if ("public" in access) return;
  const header = request.headers.get("Authorization");
  if (header !== null) state.caller = await callerFromHeader(header, request, env, config, state, names);
  const credentialed = header !== null;
  const anonymousSeesNothing = !credentialed && config.anonymousGrants.length === 0;
  if ("signedIn" in access) {
    if (!credentialed) throw unauthorized(state, null, "authentication required");
    return;
  }
  if ("lookup" in access) {
    if (anonymousSeesNothing) throw unauthorized(state, null, "authentication required");
    return;
  }
  if ("catalog" in access) {
    if (anonymousSeesNothing) throw unauthorized(state, CATALOG_SCOPE, "authentication required");
    return decide(state, state.caller.mayRegistry("catalog"), CATALOG_SCOPE);
  }
  if ("admin" in access) return decide(state, state.caller.mayRegistry("admin"), ADMIN_SCOPE);
  // containerd's ?ns= reads another registry's cache under the route's name: check the name it reads.
  // (Aliases are matched by the grants themselves; tokens name the repository as the client asked.)
  const ns = url.searchParams.get("ns");
  const name = param(request, "name");
  requireRepositoryWith(state, ns ? canonicalName(env, name, ns) : name, access.repository);
}

/** For handlers that learn the repository themselves (JSON API lookups): the same checks as a route's. */
export function requireRepository(request: Request, name: string, actions: readonly Action[]): void {
  requireRepositoryWith(admittedOf(request), name, actions);
}

export function callerOf(request: Request): Caller {
  return admittedOf(request).caller;
}

/** The name that goes into tag history: null for anonymous (open mode) callers. */
export function actorOf(request: Request): string | null {
  const identity = admitted.get(request)?.caller.identity;
  return identity === undefined || identity.kind === "anonymous" ? null : identity.name;
}

/**
 * A shared cache in front may keep `public` answers only when anybody could have had them: the
 * caller was anonymous (no credentials, or an anonymous token). Everything else becomes private.
 */
export function withCachePolicy(request: Request, response: Response): Response {
  const cacheControl = response.headers.get("Cache-Control");
  if (cacheControl === null || !/\bpublic\b/.test(cacheControl)) return response;
  if (admitted.get(request)?.caller.identity.kind === "anonymous") return response;
  const copy = new Response(response.body, response);
  copy.headers.set("Cache-Control", cacheControl.replace(/\bpublic\b/, "private"));
  return copy;
}

function admittedOf(request: Request): Admitted {
  const state = admitted.get(request);
  // Unreachable through the router: every route is gated. A handler called another way fails closed.
  if (!state) throw new OciError("INTERNAL", "request reached a handler without passing the access gate", undefined, 500);
  return state;
}

function anonymous(config: AuthConfig, names: NameRules): Caller {
  return grantCaller({ kind: "anonymous", name: "anonymous", grants: config.anonymousGrants }, names);
}

function requireRepositoryWith(state: Admitted, name: string, actions: readonly Action[]): void {
  const scope: Scope = { type: "repository", name, actions: [...actions] };
  const decisions = actions.map((action) => state.caller.may(name, action));
  const worst: Decision = decisions.includes("unasked") ? "unasked" : decisions.includes("refused") ? "refused" : "yes";
  decide(state, worst, scope);
}

function decide(state: Admitted, decision: Decision, scope: Scope): void {
  if (decision === "yes") return;
  if (decision === "unasked") throw unauthorized(state, scope, "authorization token does not cover this request", "insufficient_scope");
  if (state.caller.identity.kind === "anonymous") throw unauthorized(state, scope, "authentication required");
  throw new OciError("DENIED", "requested access to the resource is denied", accessDetail(scope), 403, {
    "WWW-Authenticate": challenge(state, scope, "insufficient_scope"),
  });
}

async function callerFromHeader(header: string, request: Request, env: Env, config: AuthConfig, state: Admitted, names: NameRules): Promise<Caller> {
  const context: SourceContext = { env, config, service: state.service };
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (basic) {
    const credentials = decodeBasic(basic[1]!);
    if (!credentials) throw unauthorized(state, null, "malformed Basic credentials");
    return login(request, credentials, context, state, names, null);
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!bearer) throw unauthorized(state, null, "unsupported Authorization scheme: use Basic or Bearer");
  const value = bearer[1]!;
  if (looksLikeJwt(value)) {
    // A JWT is one of Berth's tokens or nothing. Expired tokens are routine (the client fetches
    // another), so this is not a failed login and not counted by the throttle.
    const claims = await readAccessToken(value, context);
    if (!claims) throw unauthorized(state, null, "invalid or expired token", "invalid_token");
    if (claims.rob !== undefined && !(await robotPrincipal(env, claims.rob))) throw unauthorized(state, null, "the robot token behind this token was revoked or expired", "invalid_token");
    return tokenCaller(claims);
  }
  // Not a JWT: a secret a credential source knows (a robot token, ADMIN_TOKEN).
  return login(request, { username: null, password: value }, context, state, names, "invalid_token");
}

async function login(request: Request, credentials: PresentedCredentials, context: SourceContext, state: Admitted, names: NameRules, error: string | null): Promise<Caller> {
  const principal = await guardLogin(request, context.env, credentials, () => authenticate(credentials, context));
  if (!principal) throw unauthorized(state, null, "invalid credentials", error);
  return grantCaller(principal.identity, names, principal.robotId);
}

export function decodeBasic(encoded: string): PresentedCredentials | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function challenge(state: Admitted, scope: Scope | null, error: string | null = null): string {
  let value = `Bearer realm="${state.realm}",service="${state.service}"`;
  if (scope) value += `,scope="${formatScope(scope)}"`;
  if (error) value += `,error="${error}"`;
  return value;
}

function accessDetail(scope: Scope | null): unknown {
  if (!scope) return null;
  return scope.actions.map((action) => ({ Type: scope.type, Name: scope.name, Action: scope.type === "registry" ? "*" : action }));
}

function unauthorized(state: Admitted, scope: Scope | null, message: string, error: string | null = null): OciError {
  return new OciError("UNAUTHORIZED", message, accessDetail(scope), 401, { "WWW-Authenticate": challenge(state, scope, error) });
}
