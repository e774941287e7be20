// Puts one blob into a repository the way a body-limited registry needs it: HEAD first (skip
// what is there), a cross-repository mount when the source is the same registry, else POST, a
// PATCH per chunk no larger than the registry's OCI-Chunk-Max-Length (Content-Range and
// Content-Length on each), then PUT ?digest=. A failed chunk (dropped connection, 5xx, 416,
// expired token) is resumed from the offset the registry reports on GET <location>, re-reading
// the source from there; the retries per chunk are bounded.

import { ByteReader } from "./byte-reader.mjs";
import { RegistryError, registryError } from "./errors.mjs";
import { NetworkError, drain, send } from "./http.mjs";
import { backoffMs, repositoryScope, sleep } from "./registry.mjs";

/** Used when the registry advertises no OCI-Chunk-Max-Length: below every Cloudflare plan's 100 MB. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/** `Range: 0-<last>` → bytes received (Berth and distribution answer 0-0 for an empty upload). */
export function receivedFromRange(header) {
  const match = /^(?:bytes=)?0-(\d+)$/.exec(String(header ?? "").trim());
  if (!match) return undefined;
  const last = Number(match[1]);
  return last === 0 ? 0 : last + 1;
}

/** The chunk size: the advertised maximum (capped by --chunk-size), at least the advertised minimum. */
export function chooseChunkSize(headers, requested) {
  const max = Number(headers["oci-chunk-max-length"]);
  const min = Number(headers["oci-chunk-min-length"]);
  let size = Number.isFinite(max) && max > 0 ? max : DEFAULT_CHUNK_BYTES;
  if (requested) size = Math.min(size, requested);
  if (Number.isFinite(min) && min > size) {
    throw new RegistryError(`the registry wants chunks of at least ${min} bytes but at most ${size}`);
  }
  return size;
}

const RESUMABLE_STATUSES = new Set([401, 408, 416, 429, 500, 502, 503, 504]);

/**
 * A 413 on a chunk, or the same chunk failing twice, halves the chunk size (a proxy or plan limit
 * below what the registry advertises), down to this.
 */
const SMALLEST_CHUNK_BYTES = 1024 * 1024;

/**
 * Uploads `descriptor` from `source` into `registry`/`repository`.
 * Returns "exists" | "mounted" | "uploaded". `progress(bytesDone)` reports the blob's offset.
 */
export async function uploadBlob({ registry, repository, descriptor, source, mountFrom, chunkBytes, retries = 5, progress = () => {}, log = () => {} }) {
  const scopes = [repositoryScope(repository, "pull,push")];
  const short = descriptor.digest.slice(0, 19);
  const blobPath = `/v2/${repository}/blobs/${descriptor.digest}`;
  const exists = async () => {
    const response = await registry.call("HEAD", blobPath, { scopes });
    await drain(response);
    return response.status === 200;
  };

  if (await exists()) {
    progress(descriptor.size);
    return "exists";
  }

  const mountScopes = mountFrom ? [...scopes, repositoryScope(mountFrom, "pull")] : scopes;
  const start = async () => {
    const query = mountFrom ? `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(mountFrom)}` : "";
    const response = await registry.call("POST", `/v2/${repository}/blobs/uploads/${query}`, { scopes: mountScopes });
    if (response.status === 201 && mountFrom) {
      await drain(response);
      return { mounted: true };
    }
    if (response.status !== 202) throw await registryError(`starting the upload of ${short}`, response);
    await drain(response);
    const location = response.headers.location;
    if (!location) throw new RegistryError(`starting the upload of ${short}: the registry sent no Location`);
    return { location: registry.url(location), chunkSize: chooseChunkSize(response.headers, chunkBytes) };
  };

  let session = await start();
  if (session.mounted) {
    progress(descriptor.size);
    return "mounted";
  }

  let { location, chunkSize } = session;
  let offset = 0;
  let reader;
  let readerAt = -1;
  let failures = 0;
  let restarts = 0;

  const startOver = async (why) => {
    restarts += 1;
    log(`${short}: ${why}; starting the upload over`);
    session = await start();
    if (session.mounted) return "mounted";
    ({ location, chunkSize } = session);
    offset = 0;
    return undefined;
  };

  // After a failure: how much the registry holds. A lost session starts over (once), and so
  // does one still refusing chunks with 416 after three tries (a registry that did not notice the
  // dropped chunk and keeps the session locked).
  let refusals = 0;
  const recover = async (reason, status) => {
    failures += 1;
    if (failures > retries) throw new RegistryError(`uploading ${short}: ${reason}; gave up after ${retries} retries`);
    refusals = status === 416 ? refusals + 1 : 0;
    if (refusals >= 3 && restarts === 0) return startOver(`the registry refused ${refusals} chunks in a row (HTTP 416)`);
    await sleep(backoffMs(failures));
    const response = await registry.call("GET", location, { scopes });
    await drain(response);
    if (response.status === 404 && restarts === 0) return startOver(`${reason}; the registry lost the upload session`);
    if (response.status !== 204 && response.status !== 200) throw await registryError(`uploading ${short}: ${reason}; then the upload status`, response);
    const received = receivedFromRange(response.headers.range);
    if (received === undefined || received > descriptor.size) throw new RegistryError(`uploading ${short}: ${reason}; the registry reports an unusable Range "${response.headers.range}"`);
    if (response.headers.location) location = registry.url(response.headers.location);
    log(`${short}: ${reason}; resuming at byte ${received} of ${descriptor.size} (retry ${failures}/${retries})`);
    offset = received;
    progress(offset);
    return undefined;
  };

  const shrink = (length, why) => {
    chunkSize = Math.max(SMALLEST_CHUNK_BYTES, Math.floor(length / 2));
    log(`${short}: sending ${chunkSize}-byte chunks instead of ${length}-byte ones: ${why}`);
  };

  try {
    while (offset < descriptor.size) {
      const length = Math.min(chunkSize, descriptor.size - offset);
      if (readerAt !== offset) {
        await reader?.close();
        reader = new ByteReader(await source.open(descriptor, offset));
        readerAt = offset;
      }
      let response;
      try {
        const authorization = await registry.authorization(scopes, location);
        let sent = 0;
        response = await sendChunk(registry, location, authorization, offset, length, async (write) => {
          await reader.take(length, async (piece) => {
            readerAt += piece.length;
            await write(piece);
            sent += piece.length;
            progress(offset + sent);
          });
        });
      } catch (error) {
        readerAt = -1; // the reader's position is no longer known to match the registry's
        if (!(error instanceof NetworkError) && !/source ended/.test(error.message)) throw error;
        const failedAt = offset;
        if ((await recover(error.message)) === "mounted") return "mounted";
        // The same chunk broke twice: something on the way may refuse bodies this big and close
        // the connection before its 413 can be read (no lingering close). Try smaller chunks.
        if (offset === failedAt && failures >= 2 && length > SMALLEST_CHUNK_BYTES) shrink(length, "it failed twice");
        continue;
      }
      if (response.status === 202) {
        await drain(response);
        if (response.headers.location) location = registry.url(response.headers.location);
        const received = receivedFromRange(response.headers.range);
        offset += length;
        if (received !== undefined && received !== offset) {
          // the registry holds a different amount than we sent: trust it and continue from there
          readerAt = -1;
          offset = received;
        }
        failures = 0;
        progress(offset);
        continue;
      }
      readerAt = -1;
      if (response.status === 413 && length > SMALLEST_CHUNK_BYTES) {
        await drain(response);
        shrink(length, "it was refused as too large (HTTP 413; is MAX_CHUNK_BYTES above the plan's limit?)");
        if ((await recover("HTTP 413")) === "mounted") return "mounted";
        continue;
      }
      if (!RESUMABLE_STATUSES.has(response.status)) throw await registryError(`uploading ${short} (bytes ${offset}-${offset + length - 1})`, response);
      if (response.status === 401) {
        registry.noteChallenge(response.headers["www-authenticate"]);
        registry.forgetToken(scopes); // expired during a long chunk: fetch a fresh one
      }
      await drain(response);
      if ((await recover(`HTTP ${response.status}`, response.status)) === "mounted") return "mounted";
    }
  } finally {
    await reader?.close();
  }

  // Finish. A PUT whose answer was lost may have worked: check the blob before repeating it.
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      const url = new URL(location);
      url.searchParams.set("digest", descriptor.digest);
      response = await registry.request("PUT", url.toString(), { scopes, headers: { "Content-Type": "application/octet-stream" } });
    } catch (error) {
      if (!(error instanceof NetworkError) || attempt > retries) throw error;
      log(`${short}: finishing the upload: ${error.message}; checking`);
      await sleep(backoffMs(attempt));
      if (await exists()) return "uploaded";
      continue;
    }
    if (response.status === 201) {
      await drain(response);
      return "uploaded";
    }
    if ((response.status >= 500 || response.status === 404) && attempt <= retries) {
      await drain(response);
      await sleep(backoffMs(attempt));
      if (await exists()) return "uploaded";
      if (response.status === 404) throw new RegistryError(`finishing the upload of ${short}: the registry lost the upload session`, { status: 404 });
      continue;
    }
    throw await registryError(`finishing the upload of ${short}`, response);
  }
}

function sendChunk(registry, location, authorization, offset, length, body) {
  return send({
    url: location,
    method: "PATCH",
    headers: {
      "Content-Type": "application/octet-stream",
      "Content-Range": `${offset}-${offset + length - 1}`,
      "Content-Length": String(length),
      ...(authorization ? { Authorization: authorization } : {}),
    },
    body,
    agents: registry.agents,
  });
}
