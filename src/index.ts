import { DurableObject } from "cloudflare:workers";
export class RepositoryDO extends DurableObject {}
export class BlobIndexDO extends DurableObject {}
export default { async fetch() { return new Response("hi"); } } satisfies ExportedHandler<Env>;
