// GET /token   — docker's token protocol: ?service=&scope=…&scope=… with Basic credentials
//                (or none: an anonymous token), optional offline_token=true for a refresh token.
// POST /token  — the OAuth2 form: grant_type=password (username, password) or
//                grant_type=refresh_token (refresh_token); access_type=offline asks for a refresh token.
// Answer: {"token","access_token","expires_in","issued_at"[,"refresh_token"]}. The token holds
// every asked scope with only the actions granted (possibly none): asking for more is not an
// error, the token just carries less. Bad credentials → 401; too many failures → 429.

import { OciError } from "../http/errors";
import { jsonResponse } from "../http/responses";
import { readAll } from "../streams/read-all";
import { loadAuthConfig } from "./auth-config";
import { authenticate, type PresentedCredentials, type Principal, type SourceContext } from "./credentials";
import { decodeBasic } from "./gate";
import { grantedActions, isAdmin } from "./grants";
import { canonicalName, shadowsUpstream } from "./names";
import { guardLogin } from "./login-throttle";
import { formatScope, parseScopes, type Scope } from "./scope";
import { issueAccessToken, issueRefreshToken, refreshable } from "./tokens";

const MAX_FORM_BYTES = 64 * 1024;
const ALL: Principal["identity"]["grants"] = [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }];

export async function getToken(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const context = sourceContext(request, env);
  const credentials = credentialsOf(request);
  const principal = credentials ? await login(request, env, credentials, context) : anonymousPrincipal(context);
  const offline = url.searchParams.get("offline_token") === "true";
  return answer(principal, parseScopes(url.searchParams.getAll("scope")), offline, env, context);
}

export async function postToken(request: Request, env: Env): Promise<Response> {
  const type = request.headers.get("Content-Type") ?? "";
  if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    throw new OciError("UNSUPPORTED", "POST /token takes an application/x-www-form-urlencoded form (OAuth2)", undefined, 400);
  }
  const body = request.body ? await readAll(request.body, MAX_FORM_BYTES, () => new OciError("SIZE_INVALID", "token request form too large", undefined, 413)) : new Uint8Array();
  const form = new URLSearchParams(new TextDecoder().decode(body));
  const context = sourceContext(request, env);
  const grantType = form.get("grant_type");
  let credentials: PresentedCredentials;
  if (grantType === "password") {
    credentials = { username: form.get("username") ?? "", password: form.get("password") ?? "" };
  } else if (grantType === "refresh_token") {
    credentials = { username: null, password: form.get("refresh_token") ?? "" };
  } else {
    throw new OciError("UNSUPPORTED", `grant_type must be "password" or "refresh_token"`, { grant_type: grantType }, 400);
  }
  const principal = await login(request, env, credentials, context);
  const scopes = parseScopes(form.getAll("scope"));
  return answer(principal, scopes, form.get("access_type") === "offline", env, context);
}

async function answer(principal: Principal, asked: Scope[], offline: boolean, env: Env, context: SourceContext): Promise<Response> {
  const granted = grant(principal, asked, env);
  const issued = await issueAccessToken(principal, granted, context);
  const body: Record<string, unknown> = {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
  };
  if (granted.length > 0) body["scope"] = granted.filter((s) => s.actions.length > 0).map(formatScope).join(" ");
  if (offline && refreshable(principal)) body["refresh_token"] = await issueRefreshToken(principal, context);
  return jsonResponse(body, 200, { "Cache-Control": "no-store" });
}

/** Each asked scope with the actions the principal's grants allow (an empty list when none). */
export function grant(principal: Principal, asked: Scope[], env: Env): Scope[] {
  const grants = principal.identity.grants;
  return asked.map((scope) => {
    if (scope.type === "registry") return { ...scope, actions: scope.name === "catalog" || isAdmin(grants) ? scope.actions : [] };
    const allowed = grantedActions(grants, canonicalName(env, scope.name), shadowsUpstream(env, scope.name));
    return { ...scope, actions: scope.actions.filter((action) => allowed.has(action)) };
  });
}

function sourceContext(request: Request, env: Env): SourceContext {
  const config = loadAuthConfig(env);
  return { env, config, service: config.service ?? new URL(request.url).host };
}

function anonymousPrincipal(context: SourceContext): Principal {
  const grants = context.config.mode === "open" ? ALL : context.config.anonymousGrants;
  return { identity: { kind: "anonymous", name: "anonymous", grants } };
}

function credentialsOf(request: Request): PresentedCredentials | null {
  const header = request.headers.get("Authorization");
  if (header === null) return null;
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  const credentials = basic ? decodeBasic(basic[1]!) : null;
  if (!credentials) throw invalid("Authorization must be Basic credentials");
  return credentials;
}

async function login(request: Request, env: Env, credentials: PresentedCredentials, context: SourceContext): Promise<Principal> {
  if (context.config.mode === "open") return anonymousPrincipal(context);
  const principal = await guardLogin(request, env, credentials, () => authenticate(credentials, context));
  if (!principal) throw invalid("invalid username or password");
  return principal;
}

function invalid(message: string): OciError {
  return new OciError("UNAUTHORIZED", message, undefined, 401, { "WWW-Authenticate": 'Basic realm="Berth"' });
}
