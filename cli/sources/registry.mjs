// Source `docker://<image>`: an image in another registry (or another repository of the same
// one, which makes cross-repository mounts possible). Manifests are fetched by digest and
// verified; blobs stream straight through, reopened with a Range request after a failure.

import { digestOf, verifyDigest } from "../digest.mjs";
import { RegistryError, registryError } from "../errors.mjs";
import { drain, readBody, send } from "../http.mjs";
import { MANIFEST_ACCEPT } from "../media-types.mjs";
import { Registry, repositoryScope } from "../registry.mjs";

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export async function openRegistrySource({ image }, { insecure, credentials, retries, log }) {
  const registry = new Registry({ host: image.host, apiHost: image.apiHost, insecure, credentials, retries, log });
  await registry.connect();
  const scopes = [repositoryScope(image.repository, "pull")];
  const name = `docker://${image.host}/${image.repository}`;

  const getManifest = async (reference, expectedDigest) => {
    const response = await registry.call("GET", `/v2/${image.repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes });
    if (response.status !== 200) throw await registryError(`${name}: manifest ${reference}`, response);
    const bytes = await readBody(response, MAX_MANIFEST_BYTES);
    if (expectedDigest) verifyDigest(bytes, expectedDigest, `${name} manifest`);
    const contentType = String(response.headers["content-type"] ?? "").split(";")[0].trim();
    return { bytes, mediaType: contentType && contentType !== "application/json" ? contentType : undefined };
  };

  return {
    name: `${name}${image.digest ? `@${image.digest}` : `:${image.tag ?? "latest"}`}`,
    mountFrom: { host: image.host, repository: image.repository },
    async root() {
      const reference = image.digest ?? image.tag ?? "latest";
      const { bytes, mediaType } = await getManifest(reference, image.digest);
      return { bytes, mediaType, digest: image.digest ?? digestOf(bytes) };
    },
    async manifest(descriptor) {
      return (await getManifest(descriptor.digest, descriptor.digest)).bytes;
    },
    async has() {
      return true;
    },
    /** The blob from `offset` on: Range when the registry honours it, else the prefix is skipped. */
    async open(descriptor, offset) {
      const path = `/v2/${image.repository}/blobs/${descriptor.digest}`;
      const headers = offset > 0 ? { Range: `bytes=${offset}-` } : {};
      let response = await registry.call("GET", path, { headers, scopes });
      // Redirects (to a CDN or object store) are followed by hand, without our Authorization.
      for (let hops = 0; [301, 302, 303, 307, 308].includes(response.status); hops++) {
        const location = response.headers.location;
        await drain(response);
        if (!location || hops >= MAX_REDIRECTS) throw new RegistryError(`${name}: blob ${descriptor.digest}: too many redirects`);
        const url = new URL(location, response.url).toString();
        response = await registry.retrying(() => send({ url, headers, agents: registry.agents }), `GET blob ${descriptor.digest.slice(0, 19)}`);
      }
      if (response.status === 206) return response.stream;
      if (response.status !== 200) throw await registryError(`${name}: blob ${descriptor.digest}`, response);
      if (offset === 0) return response.stream;
      return skipBytes(response.stream, offset);
    },
  };
}

/** The stream without its first `count` bytes (a registry that ignored Range). */
async function* skipBytes(stream, count) {
  let left = count;
  for await (const piece of stream) {
    if (left >= piece.length) {
      left -= piece.length;
      continue;
    }
    yield left > 0 ? piece.subarray(left) : piece;
    left = 0;
  }
}
