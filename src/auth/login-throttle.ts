// Failed logins are limited per client address (CF-Connecting-IP) and per user
// name: after too many failures within the window, every attempt — right or
// wrong — answers 429 TOOMANYREQUESTS with Retry-After until the oldest failure
// leaves the window. Each counter is one small Durable Object holding at most
// `limit` timestamps.

import { DurableObject } from "cloudflare:workers";
import { OciError } from "../http/errors";
import type { PresentedCredentials, Principal } from "./credentials";

export const LOGIN_WINDOW_MS = 5 * 60_000;
export const FAILURES_PER_ADDRESS = 10;
export const FAILURES_PER_USER = 20;

const STORAGE_KEY = "failures";

export class LoginThrottleDO extends DurableObject<Env> {
  private failures: number[] | undefined;

  private async load(now: number): Promise<number[]> {
    this.failures ??= (await this.ctx.storage.get<number[]>(STORAGE_KEY)) ?? [];
    this.failures = this.failures.filter((at) => at > now - LOGIN_WINDOW_MS);
    return this.failures;
  }

  /** Seconds until another attempt is allowed; 0 when allowed now. */
  async retryAfter(limit: number): Promise<number> {
    const now = Date.now();
    const failures = await this.load(now);
    if (failures.length < limit) return 0;
    return Math.max(1, Math.ceil((failures[0]! + LOGIN_WINDOW_MS - now) / 1000));
  }

  async recordFailure(limit: number): Promise<void> {
    const now = Date.now();
    const failures = await this.load(now);
    failures.push(now);
    // Only the newest `limit` matter: the list stays bounded whatever an attacker sends.
    this.failures = failures.slice(-limit);
    await this.ctx.storage.put(STORAGE_KEY, this.failures);
  }
}

function counters(env: Env, request: Request, credentials: PresentedCredentials): Array<{ stub: DurableObjectStub<LoginThrottleDO>; limit: number }> {
  const address = request.headers.get("CF-Connecting-IP") ?? "unknown";
  const keys = [{ key: `address:${address}`, limit: FAILURES_PER_ADDRESS }];
  if (credentials.username !== null && credentials.username !== "") keys.push({ key: `user:${credentials.username}`, limit: FAILURES_PER_USER });
  return keys.map(({ key, limit }) => ({ stub: env.LOGIN_THROTTLE.get(env.LOGIN_THROTTLE.idFromName(key)), limit }));
}

/** Runs `attempt` unless the address or user is blocked; counts a failure when it finds nobody. */
export async function guardLogin(request: Request, env: Env, credentials: PresentedCredentials, attempt: () => Promise<Principal | null>): Promise<Principal | null> {
  const targets = counters(env, request, credentials);
  const wait = Math.max(...(await Promise.all(targets.map(({ stub, limit }) => stub.retryAfter(limit)))));
  if (wait > 0) {
    throw new OciError("TOOMANYREQUESTS", `too many failed logins; try again in ${wait} s`, { retryAfter: wait }, 429, { "Retry-After": String(wait) });
  }
  const principal = await attempt();
  if (!principal) await Promise.all(targets.map(({ stub, limit }) => stub.recordFailure(limit)));
  return principal;
}
