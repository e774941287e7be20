import { z } from "zod";
import { OciError } from "../http/errors";
import { parseDigest } from "./digest";
import { MANIFEST_MEDIA_TYPES, MediaType, baseMediaType, isIndexMediaType } from "./media-types";
import { StrictJsonError, checkStrictJson, formatJsonPath, type JsonPath } from "./strict-json";

/**
 * Deepest nesting of objects and arrays a manifest may have. Real manifests
 * need 5 (index → manifests → descriptor → platform → os.features); deeper
 * documents are refused at PUT rather than failing later in every reader.
 */
export const MAX_MANIFEST_DEPTH = 32;

/** Field names of the OCI and Docker manifest, index, descriptor and platform structs. */
const KNOWN_FIELDS = [
  "schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject", "annotations",
  "digest", "size", "urls", "data", "platform", "architecture", "os", "os.version", "os.features", "variant", "features",
];
/** Go's case-insensitive field matching folds like this (K = KELVIN SIGN → k, ſ = LONG S → s). */
const foldKey = (key: string): string => key.toUpperCase().toLowerCase();
const KNOWN_BY_FOLD = new Map(KNOWN_FIELDS.map((name) => [foldKey(name), name]));

/**
 * Go clients bind a key to a struct field whatever its case and keep the last
 * of several candidates; Berth reads exact names. Refuse any object (except an
 * `annotations` map, whose keys are data Go compares exactly) where the two
 * readings could differ.
 */
function refuseCaseVariants(path: JsonPath, keys: readonly string[]): void {
  if (path.at(-1) === "annotations") return;
  const byFold = new Map<string, string>();
  for (const key of keys) {
    const folded = foldKey(key);
    const known = KNOWN_BY_FOLD.get(folded);
    if (known !== undefined && known !== key) throw new StrictJsonError(`key ${JSON.stringify(key)} is the field ${JSON.stringify(known)} in another case`, path);
    const twin = byFold.get(folded);
    if (twin !== undefined) throw new StrictJsonError(`keys ${JSON.stringify(twin)} and ${JSON.stringify(key)} differ only in case`, path);
    byFold.set(folded, key);
  }
}

const digestString = z.string().refine((value) => {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}, "invalid digest");

export const PlatformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.object({
  mediaType: z.string(),
  digest: digestString,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string()).optional(),
  artifactType: z.string().optional(),
  platform: PlatformSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

const ImageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string()).optional(),
});

const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string()).optional(),
});

export type ImageManifest = z.infer<typeof ImageManifestSchema>;
export type ImageIndex = z.infer<typeof IndexSchema>;

/** What the registry needs to know about a manifest to store and index it. */
export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Blobs the manifest needs in the repository: config and layers. */
  blobs: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  config?: Descriptor;
}

/**
 * Parses and validates manifest bytes. `contentType` is the request's
 * Content-Type; when the body names a mediaType they must agree. OCI manifests
 * may omit mediaType (umoci and skopeo push such manifests).
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null): ParsedManifest {
  let text: string;
  try {
    // ignoreBOM keeps a leading byte-order mark in the text, so checkStrictJson refuses it.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new OciError("MANIFEST_INVALID", "manifest is not valid UTF-8");
  }
  try {
    checkStrictJson(text, { maxDepth: MAX_MANIFEST_DEPTH, onObject: refuseCaseVariants });
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    const where = formatJsonPath(error.path);
    throw new OciError("MANIFEST_INVALID", `manifest is not JSON every client reads the same way: ${error.message} (in ${where})`, { path: where });
  }
  const json: unknown = JSON.parse(text);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new OciError("MANIFEST_INVALID", "manifest must be a JSON object");
  }
  const declared = (json as { mediaType?: unknown }).mediaType;
  const header = baseMediaType(contentType);
  if (declared !== undefined && typeof declared !== "string") {
    throw new OciError("MANIFEST_INVALID", "mediaType must be a string");
  }
  if (declared && header && declared !== header) {
    throw new OciError("MANIFEST_INVALID", `mediaType "${declared}" does not match Content-Type "${header}"`);
  }
  const hasManifests = "manifests" in json;
  const mediaType = declared || (MANIFEST_MEDIA_TYPES.includes(header) ? header : hasManifests ? MediaType.OciIndex : MediaType.OciManifest);
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new OciError("MANIFEST_INVALID", `unsupported manifest media type "${mediaType}"`);
  }

  if (isIndexMediaType(mediaType)) {
    const parsed = IndexSchema.safeParse(json);
    if (!parsed.success) throw invalid(parsed.error);
    const index = parsed.data;
    refuseConflictingSizes(index.manifests);
    return {
      mediaType,
      isIndex: true,
      blobs: [],
      manifests: index.manifests,
      subject: index.subject,
      artifactType: index.artifactType,
      annotations: index.annotations,
    };
  }
  const parsed = ImageManifestSchema.safeParse(json);
  if (!parsed.success) throw invalid(parsed.error);
  const manifest = parsed.data;
  refuseConflictingSizes([manifest.config, ...manifest.layers]);
  return {
    mediaType,
    isIndex: false,
    // Layers with foreign `urls` (Windows base layers) are not required to be present.
    blobs: [manifest.config, ...manifest.layers.filter((layer) => !layer.urls?.length)],
    manifests: [],
    subject: manifest.subject,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    annotations: manifest.annotations,
    config: manifest.config,
  };
}

/** One digest is one content: listing it twice with two sizes makes one of them false. */
function refuseConflictingSizes(descriptors: readonly Descriptor[]): void {
  const sizes = new Map<string, number>();
  for (const descriptor of descriptors) {
    const size = sizes.get(descriptor.digest);
    if (size !== undefined && size !== descriptor.size) {
      throw new OciError("MANIFEST_INVALID", `${descriptor.digest} is listed with size ${size} and with size ${descriptor.size}`, { digest: descriptor.digest, sizes: [size, descriptor.size] });
    }
    sizes.set(descriptor.digest, descriptor.size);
  }
}

function invalid(error: z.ZodError): OciError {
  const issues = error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  return new OciError("MANIFEST_INVALID", `manifest does not validate: ${issues.slice(0, 5).join("; ")}`, { issues });
}
