// POST /api/v1/admin/fsck[?repair=1][&dryRun=1][&cursor=…][&limit=n]
// POST /api/v1/admin/retention[?dryRun=1]
//
// Maintenance endpoints. When the ADMIN_TOKEN secret is set they require
// `Authorization: Bearer <ADMIN_TOKEN>`; without it they are open (set it in
// any deployment reachable by others).

import { loadConfig } from "../config";
import { OciError } from "../http/errors";
import { pageSize } from "../http/request";
import { jsonResponse } from "../http/responses";
import { runFsck } from "../registry/fsck";
import { runRetention } from "../registry/retention";

const MAX_FSCK_BUDGET = 20_000;

/** fsck: checks (and with repair=1 fixes) the storage invariants; dryRun=1 only reports. */
export async function fsck(request: Request, env: Env): Promise<Response> {
  await requireAdmin(request, env);
  const url = new URL(request.url);
  const repair = flag(url, "repair") && !flag(url, "dryRun");
  const report = await runFsck(env, { repair, cursor: url.searchParams.get("cursor"), budget: pageSize(url, MAX_FSCK_BUDGET) ?? undefined });
  return jsonResponse(report, 200, { "Cache-Control": "no-store" });
}

/** Runs the retention policies now; dryRun=1 reports what a run would delete without deleting it. */
export async function retention(request: Request, env: Env): Promise<Response> {
  await requireAdmin(request, env);
  const report = await runRetention(env, { dryRun: flag(new URL(request.url), "dryRun"), actor: "retention" });
  return jsonResponse(report, 200, { "Cache-Control": "no-store" });
}

async function requireAdmin(request: Request, env: Env): Promise<void> {
  const token = loadConfig(env).adminToken;
  if (!token) return;
  const given = /^Bearer\s+(.+)$/i.exec(request.headers.get("Authorization") ?? "")?.[1] ?? "";
  const encoder = new TextEncoder();
  const [a, b] = [encoder.encode(given), encoder.encode(token)];
  if (a.byteLength !== b.byteLength || !crypto.subtle.timingSafeEqual(a, b)) {
    throw new OciError("UNAUTHORIZED", "admin endpoints need Authorization: Bearer <ADMIN_TOKEN>", undefined, 401, { "WWW-Authenticate": 'Bearer realm="berth-admin"' });
  }
}

function flag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  if (value === null || value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  throw new OciError("UNSUPPORTED", `${name}=${value}: use ${name}=1 or ${name}=0`, { [name]: value }, 400);
}
