// Limits decided up front, so that no list outgrows what one request or one
// Durable Object RPC (32 MiB) can carry. Documented in docs/api.md ("Limits").

/** Tags one manifest PUT may set (`PUT …/manifests/<ref>?tag=a&tag=b…`, the reference included). */
export const MAX_TAGS_PER_PUT = 100;

/** Tags one hosted repository may hold; a push that would add more is refused (403 DENIED). */
export const MAX_TAGS_PER_REPOSITORY = 100_000;

/** Rows one RepositoryDO list call returns at most (tags, dangling manifests, referrers). */
export const MAX_LIST_PAGE = 1_000;
