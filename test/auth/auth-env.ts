// Calls the Worker with access control on: the same bindings (storage) as the open suites,
// plus AUTH_MODE=required, a signing key, users and anonymous rules.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { BASE } from "../helpers";

export const SIGNING_KEY = "test-signing-key-0123456789abcdefghijklmnop";
export const PASSWORD = "alice's long password";
// pbkdf2-sha256 of PASSWORD, 10 000 iterations (tests only: the configuration accepts 10 000 to 100 000).
export let PASSWORD_HASH = "";

export async function preparePasswordHash(): Promise<void> {
  const { hashPassword } = await import("../../src/auth/password");
  PASSWORD_HASH ||= await hashPassword(PASSWORD, 10_000);
}

export function authVars(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH_MODE: "required",
    TOKEN_SIGNING_KEY: SIGNING_KEY,
    ANONYMOUS_PULL: JSON.stringify(["public/**"]),
    AUTH_USERS: JSON.stringify([
      { name: "alice", passwordHash: PASSWORD_HASH, grants: [{ repositories: "team/**", actions: ["pull", "push", "delete"] }, { repositories: "shared/**", actions: ["pull"] }] },
      { name: "root", passwordHash: PASSWORD_HASH, grants: [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }] },
    ]),
    ...extra,
  };
}

const envs = new Map<string, Env>();

/** One env object per distinct configuration, so the Worker's per-env configuration cache holds. */
export function authEnv(extra: Record<string, string> = {}): Env {
  const vars = authVars(extra);
  const key = JSON.stringify(vars);
  let value = envs.get(key);
  if (!value) {
    value = { ...env, ...vars } as unknown as Env;
    envs.set(key, value);
  }
  return value;
}

export async function authCall(method: string, path: string, init: RequestInit = {}, extra: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(new URL(path, BASE), { method, redirect: "manual", ...init });
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, authEnv(extra), ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${btoa(`${user}:${password}`)}` };
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export async function tokenFor(scopes: string[], headers: Record<string, string> = {}, extra: Record<string, string> = {}): Promise<string> {
  const query = new URLSearchParams([["service", "berth.test"], ...scopes.map((s) => ["scope", s])]);
  const response = await authCall("GET", `/token?${query}`, { headers }, extra);
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string | null): Record<string, string> {
  const params: Record<string, string> = {};
  if (!header) return params;
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return params;
}
