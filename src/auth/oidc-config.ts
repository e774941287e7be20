// GitHub Actions OIDC configuration, read from wrangler.toml [vars]:
//   OIDC_TRUST     JSON array (a string, or a TOML array of tables) of trust rules; unset or
//                  empty: OIDC is off
//   OIDC_AUDIENCE  the `aud` an ID token must carry (required with OIDC_TRUST), e.g. Berth's URL
//   OIDC_ISSUER    default https://token.actions.githubusercontent.com (GitHub Enterprise
//                  Server: https://HOSTNAME/_services/token; tests: a loopback issuer)
// parseOidcConfig validates once and throws a ConfigError naming the bad field.

import { z } from "zod";
import { ConfigError } from "../config-issues";
import type { Grant } from "./identity";
import { GrantSchema } from "./grant-schema";

export const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

const issuerUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL such as "${GITHUB_ISSUER}"` });
    return;
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be an https URL (plain http only on a loopback address, for tests)" });
  }
  if (url.search || url.hash || url.username || url.password || value.endsWith("/")) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be the issuer exactly as tokens name it: no query, fragment, credentials or trailing slash" });
  }
});

/** One matcher: a glob (src/registry/glob.ts: `*` within a `/` segment, `**` across) or a list of globs, any of which may match. */
const matcher = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((value) => (Array.isArray(value) ? value : [value]));

/** GitHub sends the ids as decimal strings; numbers are accepted in configuration for convenience. */
const ID_MESSAGE = "must be the numeric id GitHub shows (a string of digits)";
const numericId = z
  .union([z.string(), z.number().int().nonnegative()], { errorMap: () => ({ message: ID_MESSAGE }) })
  .transform((value) => String(value))
  .refine((value) => /^[0-9]+$/.test(value), ID_MESSAGE);

const TrustRuleSchema = z
  .object({
    /** `owner/name` as in the `repository` claim (compared case-insensitively, like GitHub). */
    repository: z.string().regex(/^[^/\s]+\/[^/\s]+$/, "must be owner/name, e.g. \"org/app\"").optional(),
    repositoryId: numericId.optional(),
    repositoryOwner: z.string().min(1).optional(),
    repositoryOwnerId: numericId,
    ref: matcher.optional(),
    refType: z.enum(["branch", "tag"]).optional(),
    environment: matcher.optional(),
    eventName: matcher.optional(),
    workflowRef: matcher.optional(),
    jobWorkflowRef: matcher.optional(),
    grants: z.array(GrantSchema).min(1, "must give at least one grant"),
  })
  .strict()
  .superRefine((rule, ctx) => {
    // Names can be re-registered after a deletion; ids cannot. A name without its id would
    // trust whoever owns that name next.
    if ((rule.repository === undefined) !== (rule.repositoryId === undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [rule.repository === undefined ? "repository" : "repositoryId"],
        message: "repository and repositoryId must be given together (a re-created repository keeps its name, not its id)",
      });
    }
    if (rule.repository && rule.repositoryOwner && rule.repository.split("/")[0]!.toLowerCase() !== rule.repositoryOwner.toLowerCase()) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["repositoryOwner"], message: `does not own ${rule.repository}` });
    }
  });

export type TrustRuleInput = z.input<typeof TrustRuleSchema>;

export interface TrustRule {
  repository?: string;
  repositoryId?: string;
  repositoryOwner?: string;
  repositoryOwnerId: string;
  ref?: string[];
  refType?: "branch" | "tag";
  environment?: string[];
  eventName?: string[];
  workflowRef?: string[];
  jobWorkflowRef?: string[];
  grants: Grant[];
}

export interface OidcConfig {
  /** Exactly as the tokens' `iss` claim says it. */
  issuer: string;
  /** The `aud` an accepted token must carry. */
  audience: string;
  rules: TrustRule[];
}

const cache = new WeakMap<object, { config: OidcConfig | undefined }>();

/** Returns undefined when OIDC_TRUST is unset or an empty list (OIDC off). Parsed once per env object. */
export function parseOidcConfig(env: object): OidcConfig | undefined {
  const cached = cache.get(env);
  if (cached) return cached.config;
  const config = readOidcConfig(env as Record<string, unknown>);
  cache.set(env, { config });
  return config;
}

function readOidcConfig(env: Record<string, unknown>): OidcConfig | undefined {
  const entries = readRules(env.OIDC_TRUST);
  if (entries === undefined) return undefined;
  const rules = z.array(TrustRuleSchema).safeParse(entries);
  if (!rules.success) throw invalid(describe("OIDC_TRUST", rules.error));
  if (rules.data.length === 0) return undefined;

  const issuer = env.OIDC_ISSUER === undefined || env.OIDC_ISSUER === "" ? GITHUB_ISSUER : env.OIDC_ISSUER;
  const parsedIssuer = issuerUrl.safeParse(issuer);
  if (!parsedIssuer.success) throw invalid(describe("OIDC_ISSUER", parsedIssuer.error));

  const audience = typeof env.OIDC_AUDIENCE === "string" ? env.OIDC_AUDIENCE.trim() : "";
  if (!audience) {
    throw invalid(
      "OIDC_AUDIENCE is required when OIDC_TRUST is set: set it to Berth's URL (e.g. https://berth.example.com) and request the ID token with that audience (the login action's `audience` input)",
    );
  }
  return { issuer: parsedIssuer.data, audience, rules: rules.data };
}

function readRules(raw: unknown): unknown {
  if (raw === undefined || raw === null || raw === "") return undefined;
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw invalid(`OIDC_TRUST is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function invalid(problem: string): ConfigError {
  return new ConfigError(`invalid GitHub OIDC configuration: ${problem}`);
}

function describe(field: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      let where = field;
      for (const part of issue.path) where += typeof part === "number" ? `[${part}]` : `.${part}`;
      return `${where}: ${issue.message}`;
    })
    .join("; ");
}
