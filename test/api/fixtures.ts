// Images for the JSON API tests: platform-specific images, indexes (nested,
// with attestations) and Docker schema 2 manifests, pushed through the Worker.
import { call, pushBlob, sha256 } from "../helpers";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Pushed {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Uint8Array;
}

export interface PushedImage extends Pushed {
  config: { digest: string; size: number; mediaType: string; json: Record<string, unknown> };
  layers: { digest: string; size: number; mediaType: string }[];
  platform: Platform;
}

/** PUT a manifest by tag, or by digest when `tag` is undefined. */
export async function putManifest(name: string, tag: string | undefined, mediaType: string, value: unknown): Promise<Pushed> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const digest = await sha256(bytes);
  const response = await call("PUT", `/v2/${name}/manifests/${tag ?? digest}`, { body: bytes, headers: { "Content-Type": mediaType } });
  if (response.status !== 201) throw new Error(`push manifest ${name}:${tag ?? digest}: ${response.status} ${await response.text()}`);
  return { digest, size: bytes.length, mediaType, bytes };
}

/** An image for `platform` with its own layers (contents derived from `label`). */
export async function pushPlatformImage(
  name: string,
  tag: string | undefined,
  platform: Platform,
  label: string,
  options: { docker?: boolean; layers?: string[]; config?: Record<string, unknown> } = {},
): Promise<PushedImage> {
  const json: Record<string, unknown> = {
    created: "2024-01-02T03:04:05Z",
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ["PATH=/usr/bin"], Cmd: ["/bin/sh"], Labels: { label } },
    rootfs: { type: "layers", diff_ids: [] },
    ...options.config,
  };
  const configMediaType = options.docker ? DOCKER_CONFIG : OCI_CONFIG;
  const config = await pushBlob(name, JSON.stringify(json));
  const layers = [];
  for (const content of options.layers ?? [`${label} layer one`, `${label} layer two`]) {
    layers.push({ ...(await pushBlob(name, content)), mediaType: options.docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : LAYER });
  }
  const mediaType = options.docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = { schemaVersion: 2, mediaType, config: { mediaType: configMediaType, ...config }, layers };
  const pushed = await putManifest(name, tag, mediaType, manifest);
  return { ...pushed, config: { ...config, mediaType: configMediaType, json }, layers, platform };
}

export interface IndexEntry {
  digest: string;
  size: number;
  mediaType: string;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export function entryOf(image: Pushed & { platform?: Platform }, extra: Partial<IndexEntry> = {}): IndexEntry {
  return { mediaType: image.mediaType, digest: image.digest, size: image.size, ...(image.platform ? { platform: image.platform } : {}), ...extra };
}

export async function pushIndex(name: string, tag: string | undefined, entries: IndexEntry[], mediaType = OCI_INDEX, extra: Record<string, unknown> = {}): Promise<Pushed> {
  return putManifest(name, tag, mediaType, { schemaVersion: 2, mediaType, manifests: entries, ...extra });
}

/** A BuildKit-style attestation manifest for `subject`. */
export async function pushAttestation(name: string, subject: string): Promise<IndexEntry> {
  const config = await pushBlob(name, JSON.stringify({ architecture: "unknown", os: "unknown", rootfs: { type: "layers", diff_ids: [] } }));
  const statement = await pushBlob(name, JSON.stringify({ _type: "https://in-toto.io/Statement/v0.1", subject: [{ digest: subject }] }));
  const pushed = await putManifest(name, undefined, OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...config },
    layers: [{ mediaType: "application/vnd.in-toto+json", ...statement, annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" } }],
  });
  return {
    mediaType: OCI_MANIFEST,
    digest: pushed.digest,
    size: pushed.size,
    platform: { os: "unknown", architecture: "unknown" },
    annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": subject },
  };
}

/** amd64 + arm64 + arm/v7 images, each with an attestation, in one index tagged `tag`. */
export async function pushMultiArch(name: string, tag: string) {
  const amd64 = await pushPlatformImage(name, undefined, { os: "linux", architecture: "amd64" }, `${name} amd64`);
  const arm64 = await pushPlatformImage(name, undefined, { os: "linux", architecture: "arm64", variant: "v8" }, `${name} arm64`);
  const armv7 = await pushPlatformImage(name, undefined, { os: "linux", architecture: "arm", variant: "v7" }, `${name} armv7`);
  const attestAmd64 = await pushAttestation(name, amd64.digest);
  const attestArm64 = await pushAttestation(name, arm64.digest);
  const index = await pushIndex(name, tag, [entryOf(amd64), entryOf(arm64), entryOf(armv7), attestAmd64, attestArm64]);
  return { index, amd64, arm64, armv7, attestations: [attestAmd64, attestArm64] };
}

export interface ApiError {
  errors: { code: string; message: string; detail: unknown }[];
}

export async function apiError(response: Response): Promise<{ code: string; message: string; detail: unknown }> {
  const body = (await response.json()) as ApiError;
  const first = body.errors[0];
  if (!first) throw new Error("no error in body");
  return first;
}
