// The whole configuration — wrangler.toml [vars] and secrets: the scalar settings, the
// retention policies, the upstream registries and GitHub OIDC — validated together, once per isolate,
// before any route answers (src/http/router.ts), so that a broken deployment fails its health
// check on /v2/ too. Every problem is reported at once, in words (see config-issues.ts).

import { z } from "zod";
import { parseAuthConfig } from "./auth/auth-config";
import { parseOidcConfig } from "./auth/oidc-config";
import { ConfigError, describeIssues } from "./config-issues";
import { jsonValue } from "./config-json";
import { RetentionPoliciesSchema, toPolicies, type RetentionPolicy } from "./registry/retention-policy";
import { readUpstreams, type UpstreamsConfig } from "./upstream/config";

/** A whole number from a [vars] string ("3600") or a TOML number. */
const wholeNumber = (fallback: number, min: number) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d+$/, "must be a whole number")])
    .default(fallback)
    .transform(Number)
    .pipe(z.number().int("must be a whole number").min(min, `must be at least ${min}`));

const SETTINGS = {
  BLOB_GRACE_SECONDS: wholeNumber(3600, 0),
  UPLOAD_EXPIRY_SECONDS: wholeNumber(24 * 3600, 0),
  MAX_MANIFEST_BYTES: wholeNumber(4 * 1024 * 1024, 4 * 1024 * 1024),
  /** Largest request body the deployment accepts (plan limit); advertised as OCI-Chunk-Max-Length. */
  MAX_CHUNK_BYTES: wholeNumber(100 * 1000 * 1000, 1),
  /** A request body that sends nothing for this long fails (408) and frees its upload. */
  BODY_IDLE_TIMEOUT_SECONDS: wholeNumber(60, 1),
  /** A cache fill runs in its blob's Durable Object alarm in slices of this many seconds (the platform cuts an alarm at 15 min). */
  FILL_SLICE_SECONDS: wholeNumber(600, 1),
  /** Consecutive failed upstream attempts (no new segment stored in between) a cache fill retries before it gives up. */
  FILL_RETRIES: wholeNumber(5, 0),
  /** Retention policies (JSON array); see src/registry/retention-policy.ts and docs/lifecycle.md. */
  RETENTION_POLICIES: RetentionPoliciesSchema,
  /** What deleting a manifest does to the manifests whose subject it is (signatures, SBOMs). */
  REFERRERS_ON_SUBJECT_DELETE: z.enum(["keep", "delete"]).default("keep"),
  /** Docker Hub mirror mode: un-prefixed names fall back to DEFAULT_UPSTREAM. */
  MIRROR_MODE: z.enum(["true", "false", ""]).default("false"),
};

export interface Config {
  blobGraceSeconds: number;
  uploadExpirySeconds: number;
  maxManifestBytes: number;
  maxChunkBytes: number;
  bodyIdleTimeoutSeconds: number;
  fillSliceSeconds: number;
  fillRetries: number;
  retentionPolicies: RetentionPolicy[];
  referrersOnSubjectDelete: "keep" | "delete";
  mirrorMode: boolean;
  upstreams: UpstreamsConfig;
}

export { ConfigError } from "./config-issues";

type Settings = { [K in keyof typeof SETTINGS]: z.output<(typeof SETTINGS)[K]> };

/** Every problem of `env`, or the configuration. Pure: tests call it with plain objects. */
export function validateConfig(env: Record<string, unknown>): { config: Config } | { problems: string[] } {
  const problems: string[] = [];
  const settings: Partial<Record<string, unknown>> = {};
  for (const [name, schema] of Object.entries(SETTINGS)) {
    const parsed = (schema as z.ZodTypeAny).safeParse(env[name]);
    if (parsed.success) settings[name] = parsed.data;
    else problems.push(...describeIssues(name, parsed.error, name === "RETENTION_POLICIES" ? jsonValue(env[name]) : env[name]));
  }
  const upstreams = readUpstreams(env);
  problems.push(...upstreams.problems);
  // Access control and GitHub OIDC keep their own parsers; their problems join the list.
  for (const parse of [parseAuthConfig, parseOidcConfig]) {
    try {
      parse(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0 || !upstreams.config) return { problems };
  const valid = settings as Settings;
  return {
    config: {
      blobGraceSeconds: valid.BLOB_GRACE_SECONDS,
      uploadExpirySeconds: valid.UPLOAD_EXPIRY_SECONDS,
      maxManifestBytes: valid.MAX_MANIFEST_BYTES,
      maxChunkBytes: valid.MAX_CHUNK_BYTES,
      bodyIdleTimeoutSeconds: valid.BODY_IDLE_TIMEOUT_SECONDS,
      fillSliceSeconds: valid.FILL_SLICE_SECONDS,
      fillRetries: valid.FILL_RETRIES,
      retentionPolicies: toPolicies(valid.RETENTION_POLICIES),
      referrersOnSubjectDelete: valid.REFERRERS_ON_SUBJECT_DELETE,
      mirrorMode: valid.MIRROR_MODE === "true",
      upstreams: upstreams.config,
    },
  };
}


const validated = new WeakMap<object, Config | ConfigError>();

/** The configuration of this env, validated on first use; throws the same ConfigError after. */
export function loadConfig(env: object): Config {
  let outcome = validated.get(env);
  if (!outcome) {
    const result = validateConfig(env as Record<string, unknown>);
    outcome = "config" in result ? result.config : new ConfigError(result.problems);
    if (outcome instanceof ConfigError) console.error(outcome.message);
    validated.set(env, outcome);
  }
  if (outcome instanceof ConfigError) throw outcome;
  return outcome;
}
