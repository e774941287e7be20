import { callerOf } from "../../auth/gate";
import { loadConfig } from "../../config";
import { OciError } from "../errors";
import { parseDigest } from "../../oci/digest";
import type { UploadStatus } from "../../registry/repository";
import { CHUNK_MIN_LENGTH } from "../../registry/upload-session";
import { emptyResponse } from "../responses";
import { contentLength, param } from "../request";
import { blobBodyRules, withGuardedBody, waitUntilOf } from "../request-body";
import { repositoryOf, repositoryPath, type RoutedRequest } from "./context";

function uploadHeaders(name: string, status: UploadStatus): Record<string, string> {
  return {
    Location: `${repositoryPath(name)}/blobs/uploads/${status.id}`,
    Range: `0-${Math.max(0, status.offset - 1)}`,
    "Docker-Upload-UUID": status.id,
  };
}

function blobCreated(name: string, digest: string): Response {
  return emptyResponse(201, { Location: `${repositoryPath(name)}/blobs/${digest}`, "Docker-Content-Digest": digest });
}

/** `Content-Range: <start>-<end>` (inclusive); the start must be where the upload stands. */
function chunkStart(request: Request, length: number | undefined): number | undefined {
  const header = request.headers.get("Content-Range");
  if (!header) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new OciError("BLOB_UPLOAD_INVALID", `invalid Content-Range "${header}"`, undefined, 416);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start || (length !== undefined && end - start + 1 !== length)) {
    throw new OciError("BLOB_UPLOAD_INVALID", `Content-Range "${header}" does not match the body length ${length}`, undefined, 416);
  }
  return start;
}

/** POST /v2/<name>/blobs/uploads/ — start an upload, upload whole (?digest=), or mount (?mount=&from=). */
export async function startUpload(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const url = new URL(request.url);
  const mount = url.searchParams.get("mount");
  const from = url.searchParams.get("from");
  if (mount !== null) {
    const digest = parseDigest(mount).digest;
    // Mounting needs pull on the source; without it this is a normal upload (202), which says
    // nothing about whether the blob exists there.
    if (from && callerOf(request).may(from, "pull") === "yes" && (await repository.mountBlob(digest, from))) return blobCreated(repository.name, digest);
  }
  const digest = url.searchParams.get("digest");
  if (digest !== null) {
    const wanted = parseDigest(digest).digest;
    const length = contentLength(request);
    const blob = await withGuardedBody(request, blobBodyRules(loadConfig(env)), waitUntilOf(ctx), (body) => repository.putBlob(wanted, body, length));
    return blobCreated(repository.name, blob.digest);
  }
  const status = await repository.startUpload();
  return emptyResponse(202, {
    ...uploadHeaders(repository.name, status),
    "Content-Length": "0",
    "OCI-Chunk-Min-Length": String(CHUNK_MIN_LENGTH),
    "OCI-Chunk-Max-Length": String(loadConfig(env).maxChunkBytes),
  });
}

/** PATCH <location> — append a chunk. */
export async function patchUpload(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const length = contentLength(request);
  const start = chunkStart(request, length);
  const status = await withGuardedBody(request, blobBodyRules(loadConfig(env)), waitUntilOf(ctx), (body) => repository.appendUpload(param(request, "id"), body, start));
  return emptyResponse(202, uploadHeaders(repository.name, status));
}

/** PUT <location>?digest=… — optional last chunk (which must start where the upload stands), then verify and publish. */
export async function putUpload(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const digest = new URL(request.url).searchParams.get("digest");
  if (!digest) throw new OciError("DIGEST_INVALID", "the digest query parameter is required to complete an upload");
  const wanted = parseDigest(digest).digest;
  const length = contentLength(request);
  const start = chunkStart(request, length);
  const blob = await withGuardedBody(request, blobBodyRules(loadConfig(env)), waitUntilOf(ctx), (body) =>
    repository.completeUpload(param(request, "id"), wanted, length === 0 ? null : body, length, start),
  );
  return blobCreated(repository.name, blob.digest);
}

/** GET <location> — how much has arrived. */
export async function uploadStatus(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const status = await repository.uploadStatus(param(request, "id"));
  return emptyResponse(204, uploadHeaders(repository.name, status));
}

/** DELETE <location> — cancel. */
export async function cancelUpload(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  await repository.cancelUpload(param(request, "id"));
  return emptyResponse(204);
}
