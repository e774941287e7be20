// GET /api/v1/repositories/<name>/history[?tag=<tag>][&n=<count>]
//
// Tag moves, newest first: which digest a tag pointed at before and after,
// when, and who moved it (null until authentication exists; "retention" or
// "fsck" when those moved it). A null newDigest is an untag or a delete; a
// null previousDigest is the tag's creation.

import { OciError } from "../http/errors";
import { pageSize, param } from "../http/request";
import { jsonResponse } from "../http/responses";
import { assertTag } from "../oci/names";
import { openRepository } from "../registry/open-repository";

const MAX_HISTORY = 1000;
const DEFAULT_HISTORY = 100;

type RoutedRequest = Request & { params?: Record<string, string> };

export async function repositoryHistory(request: RoutedRequest, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const repository = openRepository(env, param(request, "name"));
  const tagParam = url.searchParams.get("tag");
  const tag = tagParam === null || tagParam === "" ? undefined : assertTag(tagParam);
  const n = pageSize(url, MAX_HISTORY) ?? DEFAULT_HISTORY;
  const moves = await repository.tagHistory(tag, n);
  if (moves.length === 0) await assertKnown(repository.name, () => repository.listTags(1, undefined));
  return jsonResponse(
    {
      repository: repository.name,
      tag: tag ?? null,
      history: moves.map((move) => ({
        tag: move.tag,
        action: move.previousDigest === null ? "created" : move.newDigest === null ? "removed" : "moved",
        previousDigest: move.previousDigest,
        newDigest: move.newDigest,
        at: new Date(move.at).toISOString(),
        actor: move.actor,
      })),
    },
    200,
    { "Cache-Control": "no-cache" },
  );
}

/** A repository with no history at all must at least exist. */
async function assertKnown(name: string, probe: () => Promise<unknown>): Promise<void> {
  try {
    await probe();
  } catch (error) {
    if (error instanceof OciError && error.code === "NAME_UNKNOWN") throw new OciError("NAME_UNKNOWN", `repository ${name} is unknown`, { repository: name });
    throw error;
  }
}
