// POST   /api/v1/admin/tokens       {"name", "grants": [{"repositories","actions"}], "expiresIn": "90d"}
//                                   → 201 {id, name, token, grants, createdAt, expiresAt}: the token is shown this once
// GET    /api/v1/admin/tokens       → {tokens: [{id, name, grants, createdAt, expiresAt, revokedAt, createdBy}]}
// DELETE /api/v1/admin/tokens/<id>  → 204; uses of the token fail within seconds
//
// Robot tokens for CI. Admin grant required (the router's gate).

import { z } from "zod";
import { actorOf, callerOf } from "../auth/gate";
import { GrantSchema } from "../auth/grant-schema";
import { newRobotToken, robotTokenHash } from "../auth/robot-tokens";
import { MAX_ROBOT_TOKENS, robotTokensStub, type RobotRecord } from "../auth/robot-tokens-do";
import { OciError } from "../http/errors";
import { param } from "../http/request";
import { emptyResponse, jsonResponse } from "../http/responses";
import { readAll } from "../streams/read-all";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const MAX_EXPIRY_SECONDS = 366 * 86400;

const CreateSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, . _ -"),
    grants: z.array(GrantSchema).min(1, "give at least one grant"),
    expiresIn: z
      .union([z.number().int().positive(), z.string().regex(/^\d+\s*[smhdw]?$/, 'a duration such as "12h", "90d" or "2w"')])
      .default("90d")
      .transform((value) => {
        if (typeof value === "number") return value;
        const match = /^(\d+)\s*([smhdw]?)$/.exec(value)!;
        return Number(match[1]) * UNIT_SECONDS[match[2] || "s"]!;
      })
      .refine((seconds) => seconds > 0 && seconds <= MAX_EXPIRY_SECONDS, `at most ${MAX_EXPIRY_SECONDS / 86400} days`),
  })
  .strict();

function view(record: RobotRecord) {
  return {
    id: record.id,
    name: record.name,
    grants: record.grants,
    createdAt: new Date(record.createdAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    revokedAt: record.revokedAt === null ? null : new Date(record.revokedAt).toISOString(),
    createdBy: record.createdBy,
  };
}

export async function createRobotToken(request: Request, env: Env): Promise<Response> {
  const body = request.body ? await readAll(request.body, 64 * 1024, () => new OciError("SIZE_INVALID", "request body too large", undefined, 413)) : new Uint8Array();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new OciError("UNSUPPORTED", 'the body must be JSON: {"name", "grants": [{"repositories", "actions"}], "expiresIn"}', undefined, 400);
  }
  const parsed = CreateSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; ");
    throw new OciError("UNSUPPORTED", `invalid robot token request: ${problems}`, undefined, 400);
  }
  const token = newRobotToken();
  const now = Date.now();
  const record = await robotTokensStub(env).create(
    {
      id: crypto.randomUUID(),
      name: parsed.data.name,
      grants: parsed.data.grants,
      createdAt: now,
      expiresAt: now + parsed.data.expiresIn * 1000,
      createdBy: actorOf(request) ?? callerOf(request).identity.name,
    },
    await robotTokenHash(token),
  );
  if (!record) throw new OciError("DENIED", `the registry holds ${MAX_ROBOT_TOKENS} robot tokens already: revoke some first`, undefined, 409);
  return jsonResponse({ ...view(record), token }, 201, { "Cache-Control": "no-store" });
}

export async function listRobotTokens(_request: Request, env: Env): Promise<Response> {
  const records = await robotTokensStub(env).list();
  return jsonResponse({ tokens: records.map(view) }, 200, { "Cache-Control": "no-store" });
}

export async function revokeRobotToken(request: Request & { params?: Record<string, string> }, env: Env): Promise<Response> {
  const id = param(request, "id");
  if (!(await robotTokensStub(env).revoke(id))) throw new OciError("NAME_UNKNOWN", `no robot token with id ${id}`, { id }, 404);
  return emptyResponse(204);
}
