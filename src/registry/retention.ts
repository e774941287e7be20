// Runs the configured retention policies over every repository in the
// catalog (hosted and cached alike), one RepositoryDO call per repository a
// policy covers. Deleted manifests drop their blob counts; blobs nobody
// references any more are released after the grace window like any other
// deletion. Called by POST /api/v1/admin/retention and the cron trigger.

import { loadConfig } from "../config";
import { catalogStub } from "./catalog-do";
import { openRepository } from "./open-repository";
import { repositoryStub } from "./repository-do";
import type { RetentionOutcome } from "./retention-plan";
import { policyFor } from "./retention-policy";

export interface RetentionReport {
  dryRun: boolean;
  /** Repositories a policy covered. */
  examined: number;
  /** Per repository where something was (or would be) untagged or deleted. */
  repositories: (RetentionOutcome & { repository: string; kind: "hosted" | "cached"; policy: string })[];
  totals: { untagged: number; deleted: number };
}

/** Deletions per repository per run; a truncated repository continues on the next run. */
export const MAX_DELETES_PER_REPOSITORY = 1000;
const CATALOG_PAGE = 500;

export async function runRetention(env: Env, options: { dryRun: boolean; actor: string | null }): Promise<RetentionReport> {
  const report: RetentionReport = { dryRun: options.dryRun, examined: 0, repositories: [], totals: { untagged: 0, deleted: 0 } };
  const policies = loadConfig(env).retentionPolicies;
  if (policies.length === 0) return report;
  const catalog = catalogStub(env);
  for (let last: string | undefined; ; ) {
    const page = await catalog.list(CATALOG_PAGE, last);
    for (const name of page.names) {
      const policy = policyFor(policies, name);
      if (!policy) continue;
      report.examined++;
      const kind = openRepository(env, name).kind;
      const outcome = await repositoryStub(env, name).applyRetention(name, policy, {
        dryRun: options.dryRun,
        cached: kind === "cached",
        actor: options.actor,
        maxDeletes: MAX_DELETES_PER_REPOSITORY,
      });
      if (!options.dryRun && outcome.emptied) await catalog.remove(name);
      if (outcome.untagged.length === 0 && outcome.deleted.length === 0) continue;
      const { emptied: _emptied, ...rest } = outcome;
      report.repositories.push({ repository: name, kind, policy: policy.repositories, ...rest });
      report.totals.untagged += outcome.untagged.length;
      report.totals.deleted += outcome.deleted.length;
    }
    last = page.names.at(-1);
    if (!page.more || last === undefined) return report;
  }
}
