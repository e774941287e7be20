// Robot tokens as credentials: `berth_<43 base64url characters>` (256 random
// bits), accepted as a Basic password with any user name, or as a Bearer value.
// The store knows only their SHA-256. Answers are remembered for a few seconds
// per isolate, so a revocation takes effect everywhere within REVOCATION_DELAY_MS.

import type { CredentialSource, Principal } from "./credentials";
import { base64url } from "./jwt";
import { robotTokensStub, type RobotRecord } from "./robot-tokens-do";

export const ROBOT_TOKEN_PREFIX = "berth_";
export const REVOCATION_DELAY_MS = 5_000;
const CACHE_MAX = 512;

const cache = new Map<string, { principal: Principal | null; until: number }>();

export function newRobotToken(): string {
  return ROBOT_TOKEN_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function robotTokenHash(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function robotIdentityName(name: string): string {
  return `robot:${name}`;
}

function toPrincipal(record: RobotRecord | null): Principal | null {
  if (!record) return null;
  return { identity: { kind: "robot", name: robotIdentityName(record.name), grants: record.grants }, robotId: record.id };
}

async function cached(key: string, load: () => Promise<RobotRecord | null>): Promise<Principal | null> {
  const hit = cache.get(key);
  if (hit && hit.until > Date.now()) return hit.principal;
  const principal = toPrincipal(await load());
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, { principal, until: Date.now() + REVOCATION_DELAY_MS });
  return principal;
}

/** The robot behind an id (from a token Berth issued), if still active. */
export function robotPrincipal(env: Env, id: string): Promise<Principal | null> {
  return cached(`id:${id}`, () => robotTokensStub(env).findById(id));
}

export const robotTokenSource: CredentialSource = {
  kind: "robot token",
  async resolve({ password }, { env }) {
    if (!password.startsWith(ROBOT_TOKEN_PREFIX)) return null;
    const hash = await robotTokenHash(password);
    return cached(`hash:${hash}`, () => robotTokensStub(env).findByHash(hash));
  },
};
