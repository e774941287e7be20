// The JSON shapes people know from the docker CLI, built from registry data:
// - `docker image inspect` (one element of its array), from an image config;
// - `docker manifest inspect -v` (one entry), from a manifest and its descriptor.
// Pure.

import type { Platform } from "../oci/manifest";
import { MediaType } from "../oci/media-types";
import type { ImageConfig } from "./manifest-reader";

export interface DockerImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: Record<string, unknown>;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  OsFeatures?: string[];
  /** Compressed bytes of the distinct layers (docker reports the unpacked size, which a registry cannot know). */
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  History: Array<Record<string, unknown>>;
}

export interface ImageInspectInput {
  configDigest: string;
  config: ImageConfig;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

/** One element of `docker image inspect <image>`. */
export function dockerImageInspect(input: ImageInspectInput): DockerImageInspect {
  const { config } = input;
  const c = config.config ?? {};
  // Same fields, defaults and nulls as docker's container.Config in `docker image inspect`.
  const containerConfig: Record<string, unknown> = {
    Hostname: "",
    Domainname: "",
    User: c.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c.ArgsEscaped ? { ArgsEscaped: c.ArgsEscaped } : {}),
    Image: "",
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell ? { Shell: c.Shell } : {}),
  };
  const inspect: DockerImageInspect = {
    Id: input.configDigest,
    RepoTags: input.repoTags,
    RepoDigests: input.repoDigests,
    Parent: "",
    Comment: config.comment ?? "",
    Created: config.created ?? "",
    DockerVersion: config.docker_version ?? "",
    Author: config.author ?? "",
    Config: containerConfig,
    Architecture: config.architecture ?? "",
    Os: config.os ?? "",
    Size: input.size,
    RootFS: { Type: config.rootfs?.type ?? "layers", Layers: config.rootfs?.diff_ids ?? [] },
    History: config.history ?? [],
  };
  if (config.variant) inspect.Variant = config.variant;
  if (config["os.version"]) inspect.OsVersion = config["os.version"];
  if (config["os.features"]?.length) inspect.OsFeatures = config["os.features"];
  return inspect;
}

export interface DockerManifestInspect {
  Ref: string;
  Descriptor: { mediaType: string; digest: string; size: number; platform?: Platform };
  /** The manifest bytes as served, base64. */
  Raw: string;
  SchemaV2Manifest?: unknown;
  OCIManifest?: unknown;
}

/** One entry of `docker manifest inspect -v <ref>`. */
export function dockerManifestInspect(input: {
  ref: string;
  mediaType: string;
  digest: string;
  bytes: Uint8Array;
  platform: Platform | undefined;
}): DockerManifestInspect {
  const descriptor: DockerManifestInspect["Descriptor"] = { mediaType: input.mediaType, digest: input.digest, size: input.bytes.length };
  if (input.platform) descriptor.platform = ociPlatform(input.platform);
  const out: DockerManifestInspect = { Ref: input.ref, Descriptor: descriptor, Raw: base64(input.bytes) };
  const json: unknown = JSON.parse(new TextDecoder().decode(input.bytes));
  if (input.mediaType === MediaType.DockerManifest) out.SchemaV2Manifest = json;
  else out.OCIManifest = json;
  return out;
}

/** The fields of an OCI platform, in the order docker prints them, empty ones left out. */
function ociPlatform(platform: Platform): Platform {
  const out: Platform = { architecture: platform.architecture, os: platform.os };
  if (platform["os.version"]) out["os.version"] = platform["os.version"];
  if (platform["os.features"]?.length) out["os.features"] = platform["os.features"];
  if (platform.variant) out.variant = platform.variant;
  if (platform.features?.length) out.features = platform.features;
  return out;
}

export function base64(bytes: Uint8Array): string {
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}
