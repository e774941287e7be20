import { loadConfig } from "../../config";
import { looksLikeDigest, parseDigest } from "../../oci/digest";
import { assertTag } from "../../oci/names";
import { MAX_TAGS_PER_PUT } from "../../registry/limits";
import { ifNoneMatch } from "../conditional";
import { OciError } from "../errors";
import { bytesResponse, emptyResponse } from "../responses";
import { param, readLimited } from "../request";
import { waitUntilOf } from "../request-body";
import { repositoryOf, repositoryPath, type RoutedRequest } from "./context";
import type { ManifestInfo } from "../../registry/repository";

function checkReference(reference: string): string {
  return looksLikeDigest(reference) ? parseDigest(reference).digest : assertTag(reference);
}

function manifestHeaders(info: ManifestInfo, warning?: string): Record<string, string> {
  const headers: Record<string, string> = {
    "Content-Type": info.mediaType,
    "Content-Length": String(info.size),
    "Docker-Content-Digest": info.digest,
    ETag: `"${info.digest}"`,
  };
  if (warning) headers["Warning"] = `110 - "${warnText(warning)}"`;
  return headers;
}

/**
 * The warning as a quoted-string: the text carries the upstream's own words, which may hold
 * quotes, line breaks or non-Latin-1 characters (an ellipsis) that a header value cannot.
 */
function warnText(text: string): string {
  return text.replace(/…/g, "...").replace(/[\\"]/g, "\\$&").replace(/[^\x20-\x7e]+/g, " ");
}

/** 304: the client's copy (If-None-Match, weak comparison) is the manifest this reference names now. */
function notModified(digest: string): Response {
  return emptyResponse(304, { ETag: `"${digest}"`, "Docker-Content-Digest": digest });
}

/** GET and HEAD /v2/<name>/manifests/<reference> */
export async function getManifest(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const reference = checkReference(param(request, "reference"));
  if (request.method === "HEAD") {
    const info = await repository.headManifest(reference);
    if (ifNoneMatch(request, `"${info.digest}"`)) return notModified(info.digest);
    return bytesResponse(null, 200, manifestHeaders(info, info.warning));
  }
  const manifest = await repository.getManifest(reference);
  if (ifNoneMatch(request, `"${manifest.digest}"`)) return notModified(manifest.digest);
  return bytesResponse(manifest.bytes, 200, manifestHeaders(manifest, manifest.warning));
}

/** PUT /v2/<name>/manifests/<reference>[?tag=…] */
export async function putManifest(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const reference = checkReference(param(request, "reference"));
  const tags = new URL(request.url).searchParams.getAll("tag");
  if (tags.length > MAX_TAGS_PER_PUT) {
    throw new OciError("TAG_INVALID", `${tags.length} tag parameters; one manifest PUT sets at most ${MAX_TAGS_PER_PUT} tags`, { tags: tags.length, limit: MAX_TAGS_PER_PUT });
  }
  const config = loadConfig(env);
  const bytes = await readLimited(request, config.maxManifestBytes, config.bodyIdleTimeoutSeconds * 1000, waitUntilOf(ctx));
  const result = await repository.putManifest(reference, bytes, request.headers.get("Content-Type"), tags);
  const headers: Record<string, string> = {
    Location: `${repositoryPath(repository.name)}/manifests/${result.digest}`,
    "Docker-Content-Digest": result.digest,
  };
  if (result.subject) headers["OCI-Subject"] = result.subject;
  return emptyResponse(201, headers);
}

/** DELETE /v2/<name>/manifests/<reference> — a tag untags; a digest deletes the manifest and its tags. */
export async function deleteManifest(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  await repository.deleteManifest(checkReference(param(request, "reference")));
  return emptyResponse(202);
}
