// A client for one registry host: picks https (or http with --insecure), answers Basic and
// Bearer challenges with the credentials found for it, caches tokens per scope and renews them
// before they expire (a multi-GB push outlives a 60 s token), and retries what is safe to retry.

import { parseChallenge, mergeScopes } from "./challenge.mjs";
import { RegistryError, registryError } from "./errors.mjs";
import { NetworkError, drain, makeAgents, readBody, send } from "./http.mjs";

/** A token is renewed when less than this much of its life is left. */
const TOKEN_MARGIN_MS = 15_000;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Backoff before retry `attempt` (1-based): 0.5 s, 1 s, 2 s … capped at 8 s. */
export function backoffMs(attempt) {
  return Math.min(8000, 500 * 2 ** (attempt - 1));
}

export class Registry {
  /**
   * host: the name users write (docker.io); apiHost: where requests go (registry-1.docker.io).
   * credentials: {username, password} | {username, identityToken} | undefined.
   */
  constructor({ host, apiHost = host, insecure = false, credentials, retries = 5, log = () => {} }) {
    this.host = host;
    this.apiHost = apiHost;
    this.insecure = insecure;
    this.credentials = credentials;
    this.retries = retries;
    this.log = log;
    this.agents = makeAgents({ insecure });
    this.base = `https://${apiHost}`;
    this.challenge = undefined;
    this.tokens = new Map();
  }

  /** GET /v2/: learns the scheme (https, or http when insecure and TLS fails) and the challenge. */
  async connect() {
    let response;
    try {
      response = await send({ url: `${this.base}/v2/`, agents: this.agents, timeoutMs: 30_000 });
    } catch (error) {
      if (!this.insecure) {
        const hint = /certificate|self.signed|CERT|UNABLE_TO_VERIFY/i.test(`${error.code} ${error.message}`) ? " (a self-signed certificate? add --insecure)" : "";
        throw new NetworkError(`cannot reach https://${this.apiHost}: ${error.cause?.message ?? error.message}${hint}`, error.cause);
      }
      this.base = `http://${this.apiHost}`;
      try {
        response = await send({ url: `${this.base}/v2/`, agents: this.agents, timeoutMs: 30_000 });
      } catch (second) {
        throw new NetworkError(`cannot reach ${this.apiHost} over https (${error.cause?.message ?? error.message}) or http (${second.cause?.message ?? second.message})`, second.cause);
      }
    }
    await drain(response);
    if (response.status === 401) this.noteChallenge(response.headers["www-authenticate"]);
    else if (response.status !== 200) throw new RegistryError(`${this.base}/v2/ answered HTTP ${response.status}: not a registry?`, { status: response.status });
  }

  noteChallenge(header) {
    const challenge = parseChallenge(header);
    if (!challenge || (challenge.scheme !== "bearer" && challenge.scheme !== "basic")) {
      throw new RegistryError(`${this.host} asks for authentication the client does not speak: ${header ?? "(no WWW-Authenticate header)"}`, { status: 401 });
    }
    if (challenge.scheme === "bearer" && !challenge.params.realm) throw new RegistryError(`${this.host}: Bearer challenge without a realm`, { status: 401 });
    this.challenge = challenge;
    return challenge;
  }

  url(path) {
    return new URL(path, this.base + "/").toString();
  }

  /**
   * The Authorization header for a request to `url` needing `scopes` (a token is fetched or
   * renewed if needed); none for another host (a Location pointing elsewhere gets no credentials).
   */
  async authorization(scopes, url = this.base) {
    if (!this.challenge || new URL(url).host !== new URL(this.base).host) return undefined;
    if (this.challenge.scheme === "basic") {
      if (!this.credentials?.password) throw new RegistryError(`${this.host} requires a login: use --creds user:password or log in with docker/podman/skopeo`, { status: 401 });
      return "Basic " + Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64");
    }
    const key = mergeScopes(scopes).join(" ");
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt - Date.now() > TOKEN_MARGIN_MS) return `Bearer ${cached.token}`;
    const token = await this.fetchToken(mergeScopes(scopes));
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /** Drops the cached token for `scopes` (the registry refused it: expired or revoked). */
  forgetToken(scopes) {
    this.tokens.delete(mergeScopes(scopes).join(" "));
  }

  /** The token flow: GET realm?service=&scope= with Basic credentials (POST with an identity token). */
  async fetchToken(scopes) {
    const { realm, service } = this.challenge.params;
    const realmUrl = new URL(realm);
    let response;
    if (this.credentials?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: this.credentials.identityToken, client_id: "berth-push" });
      if (service) form.set("service", service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      response = await this.retrying(() =>
        send({ url: realmUrl.toString(), method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString(), agents: this.agents }),
      );
    } else {
      if (service) realmUrl.searchParams.set("service", service);
      for (const scope of scopes) realmUrl.searchParams.append("scope", scope);
      const headers = {};
      if (this.credentials?.password) headers.Authorization = "Basic " + Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64");
      response = await this.retrying(() => send({ url: realmUrl.toString(), headers, agents: this.agents }));
    }
    if (response.status !== 200) {
      const error = await registryError(`token request to ${realmUrl.origin}${realmUrl.pathname}`, response);
      if (response.status === 401 || response.status === 403) error.message += this.credentials ? " (credentials rejected)" : " (no credentials found: use --creds or log in)";
      throw error;
    }
    let body;
    try {
      body = JSON.parse((await readBody(response, 1024 * 1024)).toString("utf8"));
    } catch {
      throw new RegistryError(`token server ${realmUrl.origin} answered something that is not JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token server ${realmUrl.origin} answered without a token`);
    const lifetime = Number(body.expires_in) > 0 ? Number(body.expires_in) : 60;
    const issued = Date.parse(body.issued_at ?? "");
    const start = Number.isFinite(issued) && Math.abs(issued - Date.now()) < 300_000 ? issued : Date.now();
    return { token, expiresAt: start + lifetime * 1000 };
  }

  /**
   * One request with authorization. A 401 with a new challenge (or a scope the token lacked) is
   * answered once and the request re-sent, unless its body is a stream (the caller resumes).
   */
  async request(method, path, { headers = {}, body, scopes = [] } = {}) {
    let wanted = scopes;
    for (let attempt = 0; ; attempt++) {
      const url = this.url(path);
      const authorization = await this.authorization(wanted, url);
      const response = await send({
        url,
        method,
        headers: authorization ? { ...headers, Authorization: authorization } : headers,
        body,
        agents: this.agents,
      });
      if (response.status !== 401 || attempt > 0 || typeof body === "function") return response;
      const challenge = this.noteChallenge(response.headers["www-authenticate"]);
      await drain(response);
      if (challenge.scheme === "bearer") {
        this.forgetToken(wanted);
        wanted = mergeScopes(wanted, challenge.params.scope ?? "");
        this.forgetToken(wanted);
      }
    }
  }

  /**
   * Runs `exchange` (returning a response) again after network errors and 408/429/5xx answers,
   * with backoff (Retry-After honoured), at most `this.retries` times.
   */
  async retrying(exchange, what = "request") {
    for (let attempt = 1; ; attempt++) {
      let response;
      try {
        response = await exchange();
      } catch (error) {
        if (!(error instanceof NetworkError) || attempt > this.retries) throw error;
        this.log(`${what}: ${error.message}; retrying (${attempt}/${this.retries})`);
        await sleep(backoffMs(attempt));
        continue;
      }
      if (!RETRY_STATUSES.has(response.status) || attempt > this.retries) return response;
      await drain(response);
      const after = Number(response.headers["retry-after"]);
      this.log(`${what}: HTTP ${response.status}; retrying (${attempt}/${this.retries})`);
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 60_000) : backoffMs(attempt));
    }
  }

  /** request() with retries, for exchanges that are safe to repeat (no streamed body). */
  call(method, path, options = {}) {
    return this.retrying(() => this.request(method, path, options), `${method} ${path.split("?")[0]}`);
  }
}

/** repository:<name>:<actions> */
export function repositoryScope(repository, actions) {
  return `repository:${repository}:${actions}`;
}
