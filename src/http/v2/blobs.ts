import { parseDigest } from "../../oci/digest";
import { ifNoneMatch } from "../conditional";
import { parseRange } from "../range";
import { bytesResponse, emptyResponse } from "../responses";
import { param } from "../request";
import { repositoryOf, type RoutedRequest } from "./context";

const IMMUTABLE = "public, max-age=31536000, immutable";

/** GET and HEAD /v2/<name>/blobs/<digest>, with Range → 206. */
export async function getBlob(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  const digest = parseDigest(param(request, "digest")).digest;
  // What a 304 repeats of the 200 it stands for (RFC 9110 §15.4.5).
  const validators = { "Docker-Content-Digest": digest, ETag: `"${digest}"`, "Cache-Control": IMMUTABLE };
  const common = { ...validators, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes" };
  // Preconditions before Range (RFC 9110 §13.2.2); a 304 still needs the blob to be here.
  const notModified = ifNoneMatch(request, validators.ETag);
  const rangeHeader = notModified ? null : request.headers.get("Range");
  if (request.method === "HEAD") {
    const info = await repository.statBlob(digest);
    if (notModified) return emptyResponse(304, validators);
    const range = parseRange(rangeHeader, info.size);
    if (range) {
      return bytesResponse(null, 206, { ...common, "Content-Length": String(range.end - range.start + 1), "Content-Range": `bytes ${range.start}-${range.end}/${info.size}` });
    }
    return bytesResponse(null, 200, { ...common, "Content-Length": String(info.size) });
  }
  const blob = await repository.getBlob(digest, rangeHeader ? (size) => parseRange(rangeHeader, size) : undefined);
  if (notModified) {
    await blob.body.cancel();
    return emptyResponse(304, validators);
  }
  if (blob.range) {
    const { start, end } = blob.range;
    return bytesResponse(blob.body, 206, { ...common, "Content-Length": String(end - start + 1), "Content-Range": `bytes ${start}-${end}/${blob.size}` });
  }
  return bytesResponse(blob.body, 200, { ...common, "Content-Length": String(blob.size) });
}

/** DELETE /v2/<name>/blobs/<digest> */
export async function deleteBlob(request: RoutedRequest, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const repository = repositoryOf(request, env, ctx);
  await repository.deleteBlob(parseDigest(param(request, "digest")).digest);
  return emptyResponse(202);
}
