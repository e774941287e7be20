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
  scheduled: (controller, env, ctx) => ctx.waitUntil(scheduledMaintenance(controller, env)),
} satisfies ExportedHandler<Env>;
