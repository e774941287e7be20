// Reads manifests and image configs of one repository for the JSON API, with
// per-request memoization (an index and its children are read once) and caps
// on what is read into memory: manifests are already bounded by the registry,
// config blobs are read only up to MAX_CONFIG_BYTES, and one reader (one
// request) reads at most its ReadBudget of distinct manifests and bytes, so
// no image, however its indexes nest, makes a request do unbounded work.

import { z } from "zod";
import { OciError } from "../http/errors";
import { DescriptorSchema, parseManifest, type Descriptor, type ParsedManifest, type Platform } from "../oci/manifest";
import { MediaType } from "../oci/media-types";
import type { ManifestContent, Repository } from "../registry/repository";
import { readAll } from "../streams/read-all";

/** Config blobs are small JSON; anything larger is not read. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

const IMAGE_CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];

const LayersSchema = z.object({ layers: z.array(DescriptorSchema).optional() });

const stringArray = z.array(z.string()).nullish();
const ContainerConfigSchema = z
  .object({
    User: z.string().nullish(),
    ExposedPorts: z.record(z.unknown()).nullish(),
    Env: stringArray,
    Entrypoint: stringArray,
    Cmd: stringArray,
    Volumes: z.record(z.unknown()).nullish(),
    WorkingDir: z.string().nullish(),
    Labels: z.record(z.string()).nullish(),
    StopSignal: z.string().nullish(),
    OnBuild: stringArray,
    ArgsEscaped: z.boolean().nullish(),
    Healthcheck: z.record(z.unknown()).nullish(),
    Shell: stringArray,
  })
  .passthrough();

const HistorySchema = z
  .object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .passthrough();

export const ImageConfigSchema = z
  .object({
    architecture: z.string().optional(),
    os: z.string().optional(),
    variant: z.string().optional(),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    created: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    docker_version: z.string().optional(),
    config: ContainerConfigSchema.nullish(),
    rootfs: z.object({ type: z.string(), diff_ids: z.array(z.string()) }).optional(),
    history: z.array(HistorySchema).optional(),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** What one request may read: distinct manifests, and bytes of manifests and configs together. */
export interface ReadBudget {
  manifests: number;
  bytes: number;
}

/** Enough for any real image: resolve and inspect read the path to one platform (and at most 16 more to list platforms). */
export const REQUEST_READ_BUDGET: Readonly<ReadBudget> = Object.freeze({ manifests: 100, bytes: 32 * 1024 * 1024 });

export interface LoadedManifest {
  digest: string;
  mediaType: string;
  size: number;
  bytes: Uint8Array;
  parsed: ParsedManifest;
  /** Every layer, including foreign (`urls`) layers that ParsedManifest.blobs leaves out. */
  layers: Descriptor[];
  /** Set by caches that served a tag they could not revalidate. */
  warning?: string;
}

export class ManifestReader {
  private readonly manifests = new Map<string, Promise<LoadedManifest>>();
  private readonly configs = new Map<string, Promise<ImageConfig | undefined>>();
  private manifestsRead = 0;
  private bytesRead = 0;

  constructor(
    readonly repository: Repository,
    private readonly budget: Readonly<ReadBudget> = REQUEST_READ_BUDGET,
  ) {}

  /** A manifest by tag or digest. Digests are memoized; MANIFEST_UNKNOWN/NAME_UNKNOWN pass through. */
  manifest(reference: string): Promise<LoadedManifest> {
    const cached = this.manifests.get(reference);
    if (cached) return cached;
    const loading = this.load(reference);
    if (reference.includes(":")) this.manifests.set(reference, loading);
    return loading;
  }

  private async load(reference: string): Promise<LoadedManifest> {
    if (this.manifestsRead >= this.budget.manifests) throw this.overBudget(`more than ${this.budget.manifests} manifests`);
    this.manifestsRead++;
    this.spend(0);
    const content: ManifestContent = await this.repository.getManifest(reference);
    this.spend(content.bytes.length);
    const parsed = parseManifest(content.bytes, content.mediaType);
    const loaded: LoadedManifest = {
      digest: content.digest,
      mediaType: content.mediaType,
      size: content.size,
      bytes: content.bytes,
      parsed,
      layers: parsed.isIndex ? [] : layersOf(content.bytes),
    };
    if (content.warning) loaded.warning = content.warning;
    this.manifests.set(content.digest, Promise.resolve(loaded));
    return loaded;
  }

  /** The `manifests` of a child index (the loader resolvePlatformManifest needs). */
  readonly childIndex = async (descriptor: Descriptor): Promise<readonly Descriptor[]> => {
    const child = await this.manifest(descriptor.digest);
    if (!child.parsed.isIndex) throw new OciError("MANIFEST_INVALID", `${descriptor.digest} is listed as an index but is a ${child.mediaType}`);
    return child.parsed.manifests;
  };

  /**
   * The image config of an image manifest, or undefined when the manifest's
   * config is not an image config (artifacts). Configs over MAX_CONFIG_BYTES
   * or that are not JSON objects throw MANIFEST_INVALID.
   */
  config(manifest: LoadedManifest): Promise<ImageConfig | undefined> {
    const descriptor = manifest.parsed.config;
    if (!descriptor || !IMAGE_CONFIG_MEDIA_TYPES.includes(descriptor.mediaType)) return Promise.resolve(undefined);
    const cached = this.configs.get(descriptor.digest);
    if (cached) return cached;
    const loading = this.readConfig(descriptor);
    this.configs.set(descriptor.digest, loading);
    return loading;
  }

  private async readConfig(descriptor: Descriptor): Promise<ImageConfig> {
    if (descriptor.size > MAX_CONFIG_BYTES) {
      throw new OciError("MANIFEST_INVALID", `config ${descriptor.digest} is ${descriptor.size} bytes; the API reads configs up to ${MAX_CONFIG_BYTES} bytes`, {
        digest: descriptor.digest,
        size: descriptor.size,
      });
    }
    this.spend(0);
    const blob = await this.repository.getBlob(descriptor.digest, undefined);
    const bytes = await readCapped(blob.body, MAX_CONFIG_BYTES, descriptor.digest);
    this.spend(bytes.length);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new OciError("MANIFEST_INVALID", `config ${descriptor.digest} is not valid JSON`, { digest: descriptor.digest });
    }
    const parsed = ImageConfigSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new OciError("MANIFEST_INVALID", `config ${descriptor.digest} is not an image config (${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid"})`, {
        digest: descriptor.digest,
      });
    }
    return parsed.data;
  }

  /** Counts bytes read; throws once the budget is spent (called with 0 before a read: is anything left?). */
  private spend(bytes: number): void {
    this.bytesRead += bytes;
    if (this.bytesRead > this.budget.bytes || (bytes === 0 && this.bytesRead === this.budget.bytes)) {
      throw this.overBudget(`more than ${this.budget.bytes} bytes of manifests and configs`);
    }
  }

  private overBudget(what: string): OciError {
    return new OciError(
      "UNSUPPORTED",
      `answering this would read ${what} from ${this.repository.name}; one request reads at most ${this.budget.manifests} manifests and ${this.budget.bytes} bytes (an image whose indexes reach that many is not resolved)`,
      { repository: this.repository.name, budget: this.budget },
      422,
    );
  }

  /** The platform an image manifest's config declares, or undefined (artifacts, configs without os/architecture). */
  async platformOf(manifest: LoadedManifest): Promise<Platform | undefined> {
    const config = await this.config(manifest);
    return config ? configPlatform(config) : undefined;
  }
}

/** os/architecture/variant/os.version/os.features of a config, as an index would list them. */
export function configPlatform(config: ImageConfig): Platform | undefined {
  if (!config.os || !config.architecture) return undefined;
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config["os.version"]) platform["os.version"] = config["os.version"];
  if (config["os.features"]?.length) platform["os.features"] = config["os.features"];
  if (config.variant) platform.variant = config.variant;
  return platform;
}

function layersOf(bytes: Uint8Array): Descriptor[] {
  // parseManifest has validated the body; this only extracts the layer list.
  const parsed = LayersSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  return parsed.success ? (parsed.data.layers ?? []) : [];
}

function readCapped(body: ReadableStream<Uint8Array>, limit: number, digest: string): Promise<Uint8Array> {
  return readAll(body, limit, () => new OciError("MANIFEST_INVALID", `config ${digest} is larger than ${limit} bytes`, { digest }));
}
