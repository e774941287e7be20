// The cron trigger (wrangler.toml [triggers]): runs the retention policies —
// the same code as POST /api/v1/admin/retention — and logs what it deleted.
// Without policies it returns before touching anything.

import { loadConfig } from "../config";
import { runRetention } from "./retention";

export async function scheduledMaintenance(controller: ScheduledController, env: Env): Promise<void> {
  if (loadConfig(env).retentionPolicies.length === 0) return;
  const report = await runRetention(env, { dryRun: false, actor: "retention" });
  console.log(
    "scheduled retention",
    JSON.stringify({ cron: controller.cron, examined: report.examined, ...report.totals, repositories: report.repositories.map((r) => r.repository) }),
  );
}
