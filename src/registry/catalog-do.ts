// The registry-wide list of repository names, so `_catalog` never lists R2.
// Repositories register themselves when their first manifest lands and leave
// when their last manifest is deleted.

import { DurableObject } from "cloudflare:workers";

export class CatalogDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY, added_at INTEGER NOT NULL)");
  }

  async add(name: string): Promise<void> {
    this.sql.exec("INSERT OR IGNORE INTO repositories (name, added_at) VALUES (?, ?)", name, Date.now());
  }

  async remove(name: string): Promise<void> {
    this.sql.exec("DELETE FROM repositories WHERE name = ?", name);
  }

  /** Names after `last` in lexical order, at most `limit`, plus whether more follow. */
  async list(limit: number, last: string | undefined, prefix = ""): Promise<{ names: string[]; more: boolean }> {
    const rows = this.sql
      .exec<{ name: string }>(
        "SELECT name FROM repositories WHERE name > ? AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
        last ?? "",
        prefix.length,
        prefix,
        limit + 1,
      )
      .toArray();
    return { names: rows.slice(0, limit).map((r) => r.name), more: rows.length > limit };
  }
}

export function catalogStub(env: Env): DurableObjectStub<CatalogDO> {
  return env.CATALOG.get(env.CATALOG.idFromName("catalog"));
}
