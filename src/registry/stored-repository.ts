// What hosted and cached repositories share: their state lives in a
// RepositoryDO, so listings and history read the same way for both.

import { unwrap } from "../http/errors";
import type { Descriptor, ParsedManifest } from "../oci/manifest";
import type { ManifestWrite } from "./manifest-table";
import { repositoryStub } from "./repository-do";
import type { ManifestInfo, Page, TagDetail, TagMove } from "./repository";
import type { TagOrigin } from "./tag-table";

export abstract class StoredRepository {
  protected readonly state;
  /** Whose tags this view lists: a cache lists only what it stored (never a pushed tag under the same name). */
  protected readonly tagOrigin: TagOrigin | undefined = undefined;

  constructor(
    protected readonly env: Env,
    readonly name: string,
  ) {
    this.state = repositoryStub(env, name);
  }

  async listTags(limit: number | undefined, last: string | undefined): Promise<Page<string>> {
    const page = unwrap(await this.state.listTags(limit ?? 10_000, last, this.tagOrigin));
    return { items: page.tags, next: page.more ? page.tags.at(-1) : undefined };
  }

  async referrers(digest: string, artifactType: string | undefined, limit: number, last: string | undefined): Promise<Page<Descriptor>> {
    return this.state.referrers(digest, artifactType, last ?? "", limit);
  }

  async tagDetails(limit: number, last: string | undefined): Promise<Page<TagDetail>> {
    return this.state.tagDetails(last ?? "", limit, this.tagOrigin);
  }

  async danglingManifests(limit: number, last: string | undefined): Promise<Page<ManifestInfo & { createdAt: number }>> {
    return unwrap(await this.state.danglingManifests(last, limit));
  }

  async hasTags(): Promise<boolean> {
    return this.state.hasTags();
  }

  async tagHistory(tag: string | undefined, limit: number): Promise<TagMove[]> {
    return this.state.history(tag, limit);
  }
}

/** The row a parsed manifest becomes. */
export function manifestWrite(digest: string, bytes: Uint8Array, parsed: ParsedManifest): ManifestWrite {
  return {
    digest,
    mediaType: parsed.mediaType,
    bytes,
    blobs: parsed.blobs.map(({ digest, size }) => ({ digest, size })),
    manifests: parsed.manifests.map(({ digest, size }) => ({ digest, size })),
    subject: parsed.subject?.digest,
    artifactType: parsed.artifactType,
    annotations: parsed.annotations,
  };
}
