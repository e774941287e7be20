// Per-upstream traffic figures for GET /api/v1/upstreams. One Durable Object
// per upstream name; Workers add deltas after their response is on its way.

import { DurableObject } from "cloudflare:workers";
import type { UpstreamRequestKind } from "./observer";

export interface UpstreamStatsDelta {
  requests: Partial<Record<UpstreamRequestKind, number>>;
  cacheHits: number;
  cacheMisses: number;
  bytesFromUpstream: number;
  bytesServed: number;
  rateLimit?: { limit: number; remaining: number; windowSeconds?: number; at: number };
  lastError?: { message: string; at: number };
}

export interface UpstreamStats extends UpstreamStatsDelta {
  upstream: string;
}

export function emptyDelta(): UpstreamStatsDelta {
  return { requests: {}, cacheHits: 0, cacheMisses: 0, bytesFromUpstream: 0, bytesServed: 0 };
}

export class UpstreamStatsDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, json TEXT NOT NULL)");
  }

  async record(delta: UpstreamStatsDelta): Promise<void> {
    const add = (name: string, value: number) => {
      if (value) this.sql.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", name, value);
    };
    for (const [kind, n] of Object.entries(delta.requests)) add(`requests.${kind}`, n ?? 0);
    add("cacheHits", delta.cacheHits);
    add("cacheMisses", delta.cacheMisses);
    add("bytesFromUpstream", delta.bytesFromUpstream);
    add("bytesServed", delta.bytesServed);
    if (delta.rateLimit) this.sql.exec("INSERT OR REPLACE INTO facts (name, json) VALUES ('rateLimit', ?)", JSON.stringify(delta.rateLimit));
    if (delta.lastError) this.sql.exec("INSERT OR REPLACE INTO facts (name, json) VALUES ('lastError', ?)", JSON.stringify(delta.lastError));
  }

  async snapshot(upstream: string): Promise<UpstreamStats> {
    const stats: UpstreamStats = { upstream, ...emptyDelta() };
    for (const row of this.sql.exec<{ name: string; value: number }>("SELECT name, value FROM counters")) {
      if (row.name.startsWith("requests.")) stats.requests[row.name.slice(9) as UpstreamRequestKind] = row.value;
      else if (row.name === "cacheHits" || row.name === "cacheMisses" || row.name === "bytesFromUpstream" || row.name === "bytesServed") stats[row.name] = row.value;
    }
    for (const row of this.sql.exec<{ name: string; json: string }>("SELECT name, json FROM facts")) {
      if (row.name === "rateLimit") stats.rateLimit = JSON.parse(row.json) as UpstreamStats["rateLimit"];
      if (row.name === "lastError") stats.lastError = JSON.parse(row.json) as UpstreamStats["lastError"];
    }
    return stats;
  }
}

export function upstreamStatsStub(env: Env, upstream: string): DurableObjectStub<UpstreamStatsDO> {
  return env.UPSTREAM_STATS.get(env.UPSTREAM_STATS.idFromName(upstream));
}
