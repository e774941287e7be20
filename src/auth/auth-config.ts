// Access control configuration, from wrangler.toml [vars] and secrets:
//   AUTH_MODE                  "required" (default: anything unset is secure) or "open"
//                              (local development only: everybody may do everything)
//   TOKEN_SIGNING_KEY          secret, ≥ 32 characters: signs Berth's tokens. Required when
//                              AUTH_MODE is "required" — without it every request fails (closed).
//   TOKEN_SIGNING_KEY_PREVIOUS secret, optional: still accepted, for rotation
//   TOKEN_TTL_SECONDS          lifetime of access tokens (default 300)
//   AUTH_SERVICE               the `service` of challenges and tokens (default: the request's host)
//   AUTH_USERS                 JSON array: [{"name", "passwordHash" | "passwordHashSecret", "grants"}]
//   ANONYMOUS_PULL             JSON array of repository globs anybody may pull without credentials
//   ADMIN_TOKEN                secret, optional: a password (or Bearer value) with every grant
// Every problem is reported at once, in one ConfigError.

import { z } from "zod";
import { ConfigError, describeIssues } from "../config-issues";
import { jsonArrayVar, jsonValue } from "../config-json";
import { GrantSchema } from "./grant-schema";
import type { Grant } from "./identity";
import { parsePasswordHash, type ParsedHash } from "./password";

export type AuthMode = "required" | "open";

export interface ConfiguredUser {
  name: string;
  hash: ParsedHash;
  grants: Grant[];
}

export interface AuthConfig {
  mode: AuthMode;
  signingSecret: string | undefined;
  previousSigningSecret: string | undefined;
  tokenTtlSeconds: number;
  service: string | undefined;
  users: Map<string, ConfiguredUser>;
  anonymousGrants: Grant[];
  adminToken: string | undefined;
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIN_SIGNING_KEY = 32;

const UserSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "must be 1-64 letters, digits, . _ @ -"),
    passwordHash: z.string().optional(),
    passwordHashSecret: z.string().regex(SECRET_NAME, "must be the name of a secret").optional(),
    grants: z.array(GrantSchema).default([]),
  })
  .strict()
  .refine((user) => (user.passwordHash === undefined) !== (user.passwordHashSecret === undefined), "give exactly one of passwordHash and passwordHashSecret");

const AuthSchema = z.object({
  AUTH_MODE: z
    .enum(["required", "open", ""], { errorMap: () => ({ message: 'must be "required" or "open"' }) })
    .default("required")
    .transform((mode): AuthMode => (mode === "open" ? "open" : "required")),
  TOKEN_SIGNING_KEY: z.string().optional(),
  TOKEN_SIGNING_KEY_PREVIOUS: z.string().optional(),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(300),
  AUTH_SERVICE: z.string().optional(),
  AUTH_USERS: jsonArrayVar(UserSchema),
  ANONYMOUS_PULL: jsonArrayVar(z.string().min(1)),
  ADMIN_TOKEN: z.string().optional(),
});

const cache = new WeakMap<object, AuthConfig>();

export function loadAuthConfig(env: object): AuthConfig {
  const cached = cache.get(env);
  if (cached) return cached;
  const config = parseAuthConfig(env as Record<string, unknown>);
  cache.set(env, config);
  return config;
}

/** Secrets are named in problems, never quoted. */
const SECRETS = new Set(["TOKEN_SIGNING_KEY", "TOKEN_SIGNING_KEY_PREVIOUS", "ADMIN_TOKEN"]);

/** Validates the access control settings; throws one ConfigError listing every problem. */
export function parseAuthConfig(env: Record<string, unknown>): AuthConfig {
  const parsed = AuthSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => {
      const name = String(issue.path[0]);
      const inner = new z.ZodError([{ ...issue, path: issue.path.slice(1) }]);
      return describeIssues(name, inner, jsonValue(env[name]), { secret: SECRETS.has(name) });
    });
    throw new ConfigError(problems);
  }
  const data = parsed.data;
  const problems: string[] = [];
  const signingSecret = data.TOKEN_SIGNING_KEY || undefined;
  const previousSigningSecret = data.TOKEN_SIGNING_KEY_PREVIOUS || undefined;
  if (data.AUTH_MODE === "required" && signingSecret === undefined) {
    problems.push(
      "TOKEN_SIGNING_KEY is not set: authentication is required (AUTH_MODE) and Berth refuses to serve without a key to sign tokens " +
        `(set it with \`openssl rand -base64 48 | wrangler secret put TOKEN_SIGNING_KEY\`; only for local development, AUTH_MODE="open" serves everybody)`,
    );
  }
  for (const [name, secret] of [["TOKEN_SIGNING_KEY", signingSecret], ["TOKEN_SIGNING_KEY_PREVIOUS", previousSigningSecret]] as const) {
    if (secret !== undefined && secret.length < MIN_SIGNING_KEY) problems.push(`${name} must be at least ${MIN_SIGNING_KEY} characters (e.g. openssl rand -base64 48)`);
  }
  const users = new Map<string, ConfiguredUser>();
  data.AUTH_USERS.forEach((user, index) => {
    const where = `AUTH_USERS[${index}] (${user.name})`;
    if (users.has(user.name)) problems.push(`${where}: the name is used twice`);
    const stored = user.passwordHash ?? (user.passwordHashSecret !== undefined ? env[user.passwordHashSecret] : undefined);
    if (typeof stored !== "string") {
      problems.push(`${where}: the secret ${user.passwordHashSecret} is not set`);
      return;
    }
    const hash = parsePasswordHash(stored);
    if (!hash) {
      problems.push(`${where}: the password hash is not of the form pbkdf2-sha256$<iterations ≤ 100000>$<salt>$<hash> (make one with npm run hash-password)`);
      return;
    }
    users.set(user.name, { name: user.name, hash, grants: user.grants });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    mode: data.AUTH_MODE,
    signingSecret,
    previousSigningSecret,
    tokenTtlSeconds: data.TOKEN_TTL_SECONDS,
    service: data.AUTH_SERVICE || undefined,
    users,
    anonymousGrants: data.ANONYMOUS_PULL.map((repositories) => ({ repositories, actions: ["pull"] })),
    adminToken: data.ADMIN_TOKEN || undefined,
  };
}

