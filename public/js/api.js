// The JSON API (/api/v1), with the registry's own token protocol: signed in,
// requests carry a token from the realm, and an answer 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is retried with a token
// for exactly that scope, obtained with the refresh token the sign-in stored. Only that refresh token is kept (sessionStorage,
// gone with the tab); passwords never are.

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

const SESSION = "berth.session";
/** Access tokens by scope, for as long as they live. */
const tokens = new Map();

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) ?? "null");
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(SESSION);
  tokens.clear();
}

/** `Bearer realm="…",service="…",scope="…"` → {realm, service, scope}. */
export function parseChallenge(header) {
  if (!header || !/^Bearer\s/i.test(header)) return null;
  const params = {};
  for (const [, key, value] of header.matchAll(/(\w+)="([^"]*)"/g)) params[key] = value;
  return params.realm ? params : null;
}

async function tokenRequest(realm, form) {
  // credentials "omit": a wrong password answers 401 with a Basic challenge (for docker), which would
  // otherwise make the browser open its own login dialog.
  const response = await fetch(realm, { method: "POST", credentials: "omit", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const first = body?.errors?.[0];
    throw new ApiError(response.status, first?.code ?? "", first?.message ?? `sign-in failed: ${response.status}`, first?.detail);
  }
  return body;
}

/**
 * Signs in at the realm the registry names (GET /v2/ answers 401 with it): the OAuth2 password
 * grant with access_type=offline, which answers a refresh token. Returns false when the
 * registry needs no sign-in (open mode).
 */
export async function signIn(username, password) {
  const probe = await fetch("/v2/");
  const challenge = parseChallenge(probe.headers.get("WWW-Authenticate"));
  if (probe.ok || !challenge) return false;
  const answer = await tokenRequest(challenge.realm, {
    grant_type: "password", username, password, service: challenge.service, client_id: "berth-ui", access_type: "offline", scope: "registry:catalog:*",
  });
  if (!answer.refresh_token) throw new ApiError(400, "UNSUPPORTED", "these credentials cannot keep a session (no refresh token was issued)");
  tokens.clear();
  sessionStorage.setItem(SESSION, JSON.stringify({ user: username, refreshToken: answer.refresh_token, realm: challenge.realm, service: challenge.service }));
  return true;
}

async function tokenFor(challenge) {
  const current = session();
  const key = `${challenge.service} ${challenge.scope ?? ""}`;
  const cached = tokens.get(key);
  if (cached && cached.until > Date.now()) return cached.token;
  const form = { grant_type: "refresh_token", refresh_token: current.refreshToken, service: challenge.service ?? current.service, client_id: "berth-ui" };
  if (challenge.scope) form.scope = challenge.scope;
  const answer = await tokenRequest(challenge.realm, form);
  const token = answer.access_token ?? answer.token;
  tokens.set(key, { token, until: Date.now() + Math.max(10, (answer.expires_in ?? 60) - 10) * 1000 });
  return token;
}

/** Signed in, every request carries a token: first the listing one (it knows the user's grants), then the one a challenge names. */
export async function api(path) {
  const current = session();
  const send = async (token) => fetch(path, { headers: { Accept: "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
  let response = await send(current ? await tokenFor({ realm: current.realm, service: current.service, scope: "registry:catalog:*" }) : null);
  const challenge = response.status === 401 ? parseChallenge(response.headers.get("WWW-Authenticate")) : null;
  if (challenge && current && challenge.scope !== "registry:catalog:*") response = await send(await tokenFor(challenge));
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const first = body?.errors?.[0];
    const message = response.status === 401 ? `${first?.message ?? "authentication required"} — sign in (top right) to see it` : first?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, first?.code ?? "", message, first?.detail);
  }
  return body;
}

export const repoPath = (name) => name.split("/").map(encodeURIComponent).join("/");
