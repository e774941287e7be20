// Source `oci:<dir>[:<ref>]`: an OCI image layout (index.json + blobs/<alg>/<hex>), the image
// named by `org.opencontainers.image.ref.name` (or the only one when no ref is given).

import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { verifyDigest } from "../digest.mjs";
import { UsageError } from "../errors.mjs";

const REF_NAME = "org.opencontainers.image.ref.name";
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export async function openOciLayout({ dir, ref }) {
  let index;
  try {
    index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  } catch (error) {
    throw new UsageError(`oci:${dir}: not an OCI image layout (${error.code === "ENOENT" ? "no index.json" : error.message})`);
  }
  const entries = index.manifests ?? [];
  let chosen;
  if (ref) {
    chosen = entries.find((m) => m.annotations?.[REF_NAME] === ref);
    if (!chosen) {
      const names = entries.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
      throw new UsageError(`oci:${dir}: no image named "${ref}" (the layout has: ${names.join(", ") || "no named images"})`);
    }
  } else if (entries.length === 1) {
    chosen = entries[0];
  } else {
    const names = entries.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
    throw new UsageError(`oci:${dir} holds ${entries.length} images: name one, oci:${dir}:<ref> (${names.join(", ")})`);
  }

  const blobPath = (digest) => {
    const [algorithm, hex] = digest.split(":");
    if (!/^[a-z0-9]+$/.test(algorithm ?? "") || !/^[a-f0-9]+$/.test(hex ?? "")) throw new Error(`oci:${dir}: invalid digest ${digest}`);
    return join(dir, "blobs", algorithm, hex);
  };

  const readManifest = async (descriptor) => {
    const path = blobPath(descriptor.digest);
    const { size } = await stat(path).catch(() => {
      throw new Error(`oci:${dir}: manifest ${descriptor.digest} is missing from blobs/`);
    });
    if (size > MAX_MANIFEST_BYTES) throw new Error(`oci:${dir}: manifest ${descriptor.digest} is ${size} bytes`);
    const bytes = await readFile(path);
    verifyDigest(bytes, descriptor.digest, `oci:${dir} manifest`);
    return bytes;
  };

  return {
    name: `oci:${dir}${ref ? `:${ref}` : ""}`,
    async root() {
      return { bytes: await readManifest(chosen), mediaType: chosen.mediaType, digest: chosen.digest };
    },
    manifest: readManifest,
    async has(descriptor) {
      return stat(blobPath(descriptor.digest)).then(
        () => true,
        () => false,
      );
    },
    async open(descriptor, offset) {
      const path = blobPath(descriptor.digest);
      const { size } = await stat(path).catch(() => {
        throw new Error(`oci:${dir}: blob ${descriptor.digest} is missing from blobs/`);
      });
      if (size !== descriptor.size) throw new Error(`oci:${dir}: blob ${descriptor.digest} has ${size} bytes, its descriptor says ${descriptor.size}`);
      return createReadStream(path, { start: offset, highWaterMark: 1 << 20 });
    },
  };
}
