// Writes small OCI image layouts in code (no daemon, no downloads): real gzip'd tar layers,
// configs with matching diff_ids, manifests and an index. Digests are computed here, so tests
// know exactly what the upstream must serve.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

const sha256 = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** A ustar archive holding one regular file. */
function tarOf(name, content) {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148); // checksum placeholder
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

export class Layout {
  constructor(dir) {
    this.dir = dir;
    this.refs = [];
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  }

  blob(bytes) {
    const digest = sha256(bytes);
    writeFileSync(join(this.dir, "blobs", "sha256", digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  }

  /** A gzip'd tar layer with one file; level 1 keeps random content about its own size. */
  layer(name, content) {
    const tar = tarOf(name, content);
    const gz = gzipSync(tar, { level: 1 });
    return { mediaType: OCI_LAYER, ...this.blob(gz), diffId: sha256(tar) };
  }

  image(platform, layers) {
    const config = Buffer.from(
      JSON.stringify({
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { Cmd: ["/hello"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      }),
    );
    const configDesc = { mediaType: OCI_CONFIG, ...this.blob(config) };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: configDesc,
        layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
      }),
    );
    return { mediaType: OCI_MANIFEST, ...this.blob(manifest), platform, config: configDesc, layers: layers.map(({ digest, size }) => ({ digest, size })) };
  }

  index(images) {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: images.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: m.platform })),
      }),
    );
    return { mediaType: OCI_INDEX, ...this.blob(index), manifests: images };
  }

  tag(name, descriptor) {
    this.refs.push({
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      size: descriptor.size,
      annotations: { "org.opencontainers.image.ref.name": name },
    });
    writeFileSync(join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: this.refs }));
  }
}

/** The test images: one single-arch image with a 3 MiB layer, one two-platform index. */
export function writeTestImages(dir) {
  const layout = new Layout(dir);
  const big = layout.layer("big.bin", randomBytes(3 * 1024 * 1024));
  const small = layout.layer("hello.txt", Buffer.from("hello from the upstream\n"));
  const single = layout.image({ architecture: "amd64", os: "linux" }, [big, small]);
  layout.tag("single", single);

  const amd64 = layout.image({ architecture: "amd64", os: "linux" }, [small, layout.layer("arch.txt", Buffer.from("amd64\n"))]);
  const arm64 = layout.image({ architecture: "arm64", os: "linux", variant: "v8" }, [small, layout.layer("arch.txt", Buffer.from("arm64\n"))]);
  const multi = layout.index([amd64, arm64]);
  layout.tag("multi", multi);
  return { single, multi };
}
