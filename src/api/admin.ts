// POST /api/v1/admin/fsck[?repair=1][&dryRun=1][&cursor=…][&limit=n]
// POST /api/v1/admin/retention[?dryRun=1]
//
// Maintenance endpoints: the router's gate lets only callers with the admin grant
// through (ADMIN_TOKEN, when set, is one such credential: see docs/security.md).

import { OciError } from "../http/errors";
import { pageSize } from "../http/request";
import { jsonResponse } from "../http/responses";
import { runFsck } from "../registry/fsck";
import { runRetention } from "../registry/retention";

const MAX_FSCK_BUDGET = 20_000;

/** fsck: checks (and with repair=1 fixes) the storage invariants; dryRun=1 only reports. */
export async function fsck(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const repair = flag(url, "repair") && !flag(url, "dryRun");
  const report = await runFsck(env, { repair, cursor: url.searchParams.get("cursor"), budget: pageSize(url, MAX_FSCK_BUDGET) ?? undefined });
  return jsonResponse(report, 200, { "Cache-Control": "no-store" });
}

/** Runs the retention policies now; dryRun=1 reports what a run would delete without deleting it. */
export async function retention(request: Request, env: Env): Promise<Response> {
  const report = await runRetention(env, { dryRun: flag(new URL(request.url), "dryRun"), actor: "retention" });
  return jsonResponse(report, 200, { "Cache-Control": "no-store" });
}

function flag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  if (value === null || value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  throw new OciError("UNSUPPORTED", `${name}=${value}: use ${name}=1 or ${name}=0`, { [name]: value }, 400);
}
