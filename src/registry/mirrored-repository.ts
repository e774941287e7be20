// Docker Hub mirror mode (dockerd `registry-mirrors`): un-prefixed names such
// as library/nginx are hosted repositories first; what the hosted repository
// does not know is read through the default upstream's cache. Writes always
// go to the hosted repository.
//
// A blob HEAD is answered by the hosted repository alone. Pulls GET blobs; a
// HEAD is how a pushing client asks "do you have it already?", and the
// answer must be about the repository the push goes to: falling back would
// fetch each new layer from the upstream (or fail the push with the
// upstream's DENIED for a name it does not have), and a 200 for a layer only
// the cache holds would make the client skip the upload and then fail the
// manifest PUT with MANIFEST_BLOB_UNKNOWN.

import { OciError } from "../http/errors";
import type { Repository } from "./repository";

const UNKNOWN = new Set(["NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"]);

type ReadMethod = "getManifest" | "headManifest" | "listTags" | "getBlob";

export function mirroredRepository(hosted: Repository, cache: () => Repository): Repository {
  const fallback = <M extends ReadMethod>(method: M) =>
    (async (...args: unknown[]) => {
      const call = (repository: Repository) => (repository[method] as (...a: unknown[]) => Promise<unknown>).apply(repository, args);
      try {
        return await call(hosted);
      } catch (error) {
        if (error instanceof OciError && UNKNOWN.has(error.code)) return call(cache());
        throw error;
      }
    }) as Repository[M];

  return new Proxy(hosted, {
    get(target, property, receiver) {
      switch (property) {
        case "getManifest":
        case "headManifest":
        case "listTags":
        case "getBlob":
          return fallback(property);
        default: {
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        }
      }
    },
  });
}
