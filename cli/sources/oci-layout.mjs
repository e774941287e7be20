// Sources `oci:<dir>[:<ref>]` and `oci-archive:<file>[:<ref>]`: an OCI image layout (index.json +
// blobs/<alg>/<hex>) in a directory or in a tar (`podman save --format oci-archive`, read in place
// through its tar index); the image named by `org.opencontainers.image.ref.name`, or the only one.

import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { verifyDigest } from "../digest.mjs";
import { UsageError } from "../errors.mjs";
import { tarFiles } from "../tar-index.mjs";

const REF_NAME = "org.opencontainers.image.ref.name";
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** A layout's files in a directory: size(path) (undefined when missing), read(path), stream(path, offset). */
function directoryFiles(dir) {
  return {
    size: (path) => stat(join(dir, path)).then((s) => s.size, () => undefined),
    read: (path) => readFile(join(dir, path)),
    stream: (path, offset) => createReadStream(join(dir, path), { start: offset, highWaterMark: 1 << 20 }),
  };
}

export async function openOciLayout({ dir, file, ref }) {
  const name = dir !== undefined ? `oci:${dir}` : `oci-archive:${file}`;
  let files;
  let index;
  try {
    files = dir !== undefined ? directoryFiles(dir) : await tarFiles(file);
    index = JSON.parse((await files.read("index.json")).toString("utf8"));
  } catch (error) {
    throw new UsageError(`${name}: not an OCI image layout (${error.code === "ENOENT" ? "no index.json" : error.message})`);
  }
  const entries = index.manifests ?? [];
  const names = () => entries.map((m) => m.annotations?.[REF_NAME]).filter(Boolean).join(", ");
  let chosen;
  if (ref) {
    chosen = entries.find((m) => m.annotations?.[REF_NAME] === ref);
    if (!chosen) throw new UsageError(`${name}: no image named "${ref}" (the layout has: ${names() || "no named images"})`);
  } else if (entries.length === 1) {
    chosen = entries[0];
  } else {
    throw new UsageError(`${name} holds ${entries.length} images: name one, ${name}:<ref> (${names()})`);
  }

  const blobPath = (digest) => {
    const [algorithm, hex] = digest.split(":");
    if (!/^[a-z0-9]+$/.test(algorithm ?? "") || !/^[a-f0-9]+$/.test(hex ?? "")) throw new Error(`${name}: invalid digest ${digest}`);
    return `blobs/${algorithm}/${hex}`;
  };

  const readManifest = async (descriptor) => {
    const path = blobPath(descriptor.digest);
    const size = await files.size(path);
    if (size === undefined) throw new Error(`${name}: manifest ${descriptor.digest} is missing from blobs/`);
    if (size > MAX_MANIFEST_BYTES) throw new Error(`${name}: manifest ${descriptor.digest} is ${size} bytes`);
    const bytes = await files.read(path);
    verifyDigest(bytes, descriptor.digest, `${name} manifest`);
    return bytes;
  };

  return {
    name: `${name}${ref ? `:${ref}` : ""}`,
    async root() {
      return { bytes: await readManifest(chosen), mediaType: chosen.mediaType, digest: chosen.digest };
    },
    manifest: readManifest,
    async has(descriptor) {
      return (await files.size(blobPath(descriptor.digest))) !== undefined;
    },
    async open(descriptor, offset) {
      const path = blobPath(descriptor.digest);
      const size = await files.size(path);
      if (size === undefined) throw new Error(`${name}: blob ${descriptor.digest} is missing from blobs/`);
      if (size !== descriptor.size) throw new Error(`${name}: blob ${descriptor.digest} has ${size} bytes, its descriptor says ${descriptor.size}`);
      return files.stream(path, offset);
    },
  };
}
