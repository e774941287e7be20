// Configuration comes from wrangler.toml [vars] and secrets. It is validated
// once per isolate; a bad value fails every request with a message naming it.

import { z } from "zod";
import { RetentionPoliciesSchema, toPolicies, type RetentionPolicy } from "./registry/retention-policy";

const seconds = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

const ConfigSchema = z.object({
  BLOB_GRACE_SECONDS: seconds(3600),
  UPLOAD_EXPIRY_SECONDS: seconds(24 * 3600),
  MAX_MANIFEST_BYTES: z.coerce.number().int().min(4 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Largest request body the deployment accepts (plan limit); advertised as OCI-Chunk-Max-Length. */
  MAX_CHUNK_BYTES: z.coerce.number().int().positive().default(100 * 1000 * 1000),
  /** Retention policies (JSON array); see src/registry/retention-policy.ts and docs/lifecycle.md. */
  RETENTION_POLICIES: RetentionPoliciesSchema,
  /** What deleting a manifest does to the manifests whose subject it is (signatures, SBOMs). */
  REFERRERS_ON_SUBJECT_DELETE: z.enum(["keep", "delete"]).default("keep"),
  /** Docker Hub mirror mode: un-prefixed names fall back to DEFAULT_UPSTREAM. */
  MIRROR_MODE: z.enum(["true", "false", ""]).default("false"),
});

export interface Config {
  blobGraceSeconds: number;
  uploadExpirySeconds: number;
  maxManifestBytes: number;
  maxChunkBytes: number;
  retentionPolicies: RetentionPolicy[];
  referrersOnSubjectDelete: "keep" | "delete";
  mirrorMode: boolean;
}

const cache = new WeakMap<object, Config>();

export class ConfigError extends Error {}

export function loadConfig(env: object): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new ConfigError(`invalid Berth configuration in wrangler.toml [vars]: ${problems}`);
  }
  const config: Config = {
    blobGraceSeconds: parsed.data.BLOB_GRACE_SECONDS,
    uploadExpirySeconds: parsed.data.UPLOAD_EXPIRY_SECONDS,
    maxManifestBytes: parsed.data.MAX_MANIFEST_BYTES,
    maxChunkBytes: parsed.data.MAX_CHUNK_BYTES,
    retentionPolicies: toPolicies(parsed.data.RETENTION_POLICIES),
    referrersOnSubjectDelete: parsed.data.REFERRERS_ON_SUBJECT_DELETE,
    mirrorMode: parsed.data.MIRROR_MODE === "true",
  };
  cache.set(env, config);
  return config;
}
