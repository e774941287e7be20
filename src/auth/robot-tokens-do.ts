// Robot tokens (CI credentials): one Durable Object holds them all, each as the
// SHA-256 of the token (the token itself is shown once, at creation), its
// grants, expiry and revocation time. Lookups answer only active tokens.

import { DurableObject } from "cloudflare:workers";
import type { Grant } from "./identity";

export interface RobotRecord {
  id: string;
  name: string;
  grants: Grant[];
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  createdBy: string;
}

interface Row extends Record<string, SqlStorageValue> {
  id: string;
  name: string;
  grants: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  created_by: string;
}

/** At most this many tokens are kept (active or revoked): every request does bounded work. */
export const MAX_ROBOT_TOKENS = 1000;

export class RobotTokensDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS robot_tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      hash TEXT NOT NULL UNIQUE,
      grants TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      revoked_at INTEGER,
      created_by TEXT NOT NULL
    )`);
  }

  /** Stores a new token; null when the store is full (revoked and expired tokens are dropped first). */
  async create(record: Omit<RobotRecord, "revokedAt">, hash: string): Promise<RobotRecord | null> {
    // Revoked and expired tokens are kept for a day, for the listing, then dropped.
    this.sql.exec("DELETE FROM robot_tokens WHERE COALESCE(revoked_at, expires_at) < ?", Date.now() - 86_400_000);
    const count = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM robot_tokens").one().n;
    if (count >= MAX_ROBOT_TOKENS) return null;
    this.sql.exec(
      "INSERT INTO robot_tokens (id, name, hash, grants, created_at, expires_at, revoked_at, created_by) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
      record.id,
      record.name,
      hash,
      JSON.stringify(record.grants),
      record.createdAt,
      record.expiresAt,
      record.createdBy,
    );
    return { ...record, revokedAt: null };
  }

  async list(): Promise<RobotRecord[]> {
    return this.sql.exec<Row>("SELECT * FROM robot_tokens ORDER BY created_at LIMIT ?", MAX_ROBOT_TOKENS).toArray().map(toRecord);
  }

  /** Revokes; false when no such token. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<boolean> {
    this.sql.exec("UPDATE robot_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", Date.now(), id);
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM robot_tokens WHERE id = ?", id).one().n > 0;
  }

  /** The active (not revoked, not expired) token with this hash. */
  async findByHash(hash: string): Promise<RobotRecord | null> {
    return this.active("hash", hash);
  }

  /** The active token with this id (tokens issued from a robot token re-check it). */
  async findById(id: string): Promise<RobotRecord | null> {
    return this.active("id", id);
  }

  private active(column: "id" | "hash", value: string): RobotRecord | null {
    const row = this.sql.exec<Row>(`SELECT * FROM robot_tokens WHERE ${column} = ? AND revoked_at IS NULL AND expires_at > ?`, value, Date.now()).toArray()[0];
    return row ? toRecord(row) : null;
  }
}

function toRecord(row: Row): RobotRecord {
  return {
    id: row.id,
    name: row.name,
    grants: JSON.parse(row.grants) as Grant[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    createdBy: row.created_by,
  };
}

export function robotTokensStub(env: Env): DurableObjectStub<RobotTokensDO> {
  return env.ROBOT_TOKENS.get(env.ROBOT_TOKENS.idFromName("robot-tokens"));
}
