import { handle } from "./http/router";
import { scheduledMaintenance } from "./registry/scheduled";

export { RepositoryDO } from "./registry/repository-do";
export { BlobIndexDO } from "./registry/blob-index-do";
export { CatalogDO } from "./registry/catalog-do";
export { UpstreamStatsDO } from "./upstream/stats-do";
export { RobotTokensDO } from "./auth/robot-tokens-do";
export { LoginThrottleDO } from "./auth/login-throttle";

export default {
  fetch: handle,
  // Returned, not handed to waitUntil: the cron invocation (and a local trigger) ends when the
  // maintenance has run, and reports its failure.
  scheduled: (controller, env, _ctx) => scheduledMaintenance(controller, env),
} satisfies ExportedHandler<Env>;
