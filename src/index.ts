import { handle } from "./http/router";

export { RepositoryDO } from "./registry/repository-do";
export { BlobIndexDO } from "./registry/blob-index-do";
export { CatalogDO } from "./registry/catalog-do";
export { UpstreamStatsDO } from "./upstream/stats-do";

export default {
  fetch: handle,
} satisfies ExportedHandler<Env>;
