// Source `docker-archive:<file>[:<ref>|:@<n>]`: a `docker save` / `podman save` tarball
// (manifest.json + config + layer tars), read in place through a tar index.
//
// The image is pushed with the archive's bytes unchanged, as `skopeo copy --dest-compress=false`
// does: layers are usually uncompressed tars there, so their digests are their diff_ids, the
// config needs no rewrite, and a 10 GB layer is not recompressed on one core before it can be
// sent (or resent from an offset after a dropped connection). Layers already compressed in the
// archive (gzip, zstd) keep their compression and get the matching media type.
// The manifest is Docker schema 2 (what skopeo writes from a docker archive), or OCI with
// --format oci (also chosen automatically for zstd layers, which schema 2 cannot describe).

import { digestFileRange, digestOf } from "../digest.mjs";
import { UsageError } from "../errors.mjs";
import { MT } from "../media-types.mjs";
import { tarFiles } from "../tar-index.mjs";

const CONTENT_ADDRESSED = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Compression of a layer from its first bytes. */
export function sniffCompression(head) {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

function layerMediaType(format, compression) {
  if (format === "oci") return compression === "none" ? MT.ociLayer : `${MT.ociLayer}+${compression}`;
  return compression === "none" ? MT.dockerLayer : `${MT.dockerLayer}.gzip`;
}

/** Picks the image: by RepoTags entry, by position, or the only one. */
function chooseImage(images, { file, ref, index }) {
  if (index !== undefined) {
    if (index >= images.length) throw new UsageError(`docker-archive:${file} has ${images.length} image(s); @${index} does not exist`);
    return images[index];
  }
  if (ref) {
    const wanted = ref.includes(":") ? [ref] : [`${ref}:latest`, ref];
    const found = images.find((image) => (image.RepoTags ?? []).some((tag) => wanted.includes(tag) || wanted.includes(tag.replace(/^(docker\.io\/|localhost\/)/, ""))));
    if (!found) throw new UsageError(`docker-archive:${file}: no image tagged "${ref}" (tags: ${images.flatMap((i) => i.RepoTags ?? []).join(", ") || "none"})`);
    return found;
  }
  if (images.length !== 1) {
    throw new UsageError(`docker-archive:${file} holds ${images.length} images: name one, docker-archive:${file}:<repo:tag> or :@<n> (${images.flatMap((i) => i.RepoTags ?? []).join(", ")})`);
  }
  return images[0];
}

export async function openDockerArchive({ file, ref, index }, { format = "v2s2", log = () => {} } = {}) {
  let archive;
  try {
    archive = await tarFiles(file);
  } catch (error) {
    throw new UsageError(`docker-archive:${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  }
  const entryOf = (name, what) => {
    const entry = archive.entry(name);
    if (!entry) throw new Error(`docker-archive:${file}: ${what} "${name}" is not in the archive`);
    return entry;
  };
  let images;
  try {
    images = JSON.parse((await archive.read(entryOf("manifest.json", "manifest.json").name)).toString("utf8"));
    if (!Array.isArray(images) || images.length === 0) throw new Error("no images listed");
  } catch (error) {
    throw new Error(`docker-archive:${file}: manifest.json is not a docker-archive manifest (${error.message})`);
  }
  const image = chooseImage(images, { file, ref, index });

  const configEntry = entryOf(image.Config, "config");
  const configBytes = await archive.read(configEntry.name);
  const configDigest = digestOf(configBytes);

  // Where each blob lies in the archive, by digest.
  const places = new Map([[configDigest, configEntry]]);
  const layers = [];
  for (const name of image.Layers ?? []) {
    const entry = entryOf(name, "layer");
    const named = CONTENT_ADDRESSED.exec(entry.name);
    let digest;
    if (named) {
      digest = `sha256:${named[1]}`; // content-addressed name; the registry verifies it on upload
    } else {
      log(`hashing layer ${name} (${entry.size} bytes)`);
      digest = await digestFileRange(file, entry.offset, entry.size);
    }
    const compression = sniffCompression(await archive.read(entry.name, 4));
    places.set(digest, entry);
    layers.push({ digest, size: entry.size, compression });
  }
  const useOci = format === "oci" || layers.some((l) => l.compression === "zstd");
  const manifest = {
    schemaVersion: 2,
    mediaType: useOci ? MT.ociManifest : MT.dockerManifest,
    config: { mediaType: useOci ? MT.ociConfig : MT.dockerConfig, size: configBytes.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: layerMediaType(useOci ? "oci" : "v2s2", l.compression), size: l.size, digest: l.digest })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest)); // compact, as skopeo writes it

  return {
    name: `docker-archive:${file}${ref ? `:${ref}` : index !== undefined ? `:@${index}` : ""}`,
    async root() {
      return { bytes, mediaType: manifest.mediaType, digest: digestOf(bytes) };
    },
    async manifest(descriptor) {
      throw new Error(`docker-archive:${file} has no manifest ${descriptor.digest}`);
    },
    async has(descriptor) {
      return places.has(descriptor.digest);
    },
    async open(descriptor, offset) {
      const place = places.get(descriptor.digest);
      if (!place) throw new Error(`docker-archive:${file} has no blob ${descriptor.digest}`);
      return archive.stream(place.name, offset);
    },
  };
}
