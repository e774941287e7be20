// Upstream registries of the pull-through cache, read from wrangler.toml:
//   UPSTREAMS         JSON array (a string, or a TOML array of tables) of upstream entries
//   DEFAULT_UPSTREAM  name of the upstream for Docker Hub mirror mode (default "docker.io")
// Credentials are never written in UPSTREAMS: an entry names the secrets that hold them.
// readUpstreams validates them (src/config.ts calls it with the rest of the configuration).

import { z } from "zod";
import { describeIssues } from "../config-issues";

/** Host names that mean Docker Hub; one-segment names there get `library/`. */
export const DOCKER_HUB_HOSTS: readonly string[] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

const HOST = /^[a-z0-9]+(?:[.-]+[a-z0-9]+)*(?::[0-9]{1,5})?$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const hostName = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => HOST.test(value), "must be a host name such as \"docker.io\" (lowercase letters, digits, dots, dashes, optional :port)");

/** The upstream's prefix in /v2/<name>/…: a repository path component, so no port and no "..". */
const NAME = /^[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*$/;

const upstreamName = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .superRefine((value, ctx) => {
    if (NAME.test(value)) return;
    const message = value.includes(":")
      ? "must not contain a port: it is the first path segment of /v2/<name>/…, which has no port (put the port in url, and host:port in aliases for containerd's ns)"
      : "must be a host name without a port such as \"docker.io\": it is the first path segment of /v2/<name>/…";
    ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  });

const upstreamUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}, "must be an http(s) URL without query, fragment or credentials, such as \"https://registry-1.docker.io\"");

export const UpstreamEntrySchema = z
  .object({
    name: upstreamName,
    url: upstreamUrl,
    aliases: z.array(hostName).default([]),
    usernameSecret: z.string().regex(SECRET_NAME, "must be the name of a secret").optional(),
    passwordSecret: z.string().regex(SECRET_NAME, "must be the name of a secret").optional(),
    tagTtlSeconds: z.number().int().min(0).max(31_536_000).default(300),
    /** Time allowed for an upstream's response headers (and between body chunks). */
    timeoutSeconds: z.number().positive().max(600).default(30),
    /** Allows redirects and token realms on loopback/private addresses (tests, private networks). */
    allowPrivateAddresses: z.boolean().default(false),
  })
  .strict();

export type UpstreamEntry = z.input<typeof UpstreamEntrySchema>;

export interface UpstreamCredentials {
  username: string;
  password: string;
}

export interface UpstreamConfig {
  /** The prefix in `/v2/<name>/…`, e.g. "docker.io". */
  name: string;
  /** Base URL without trailing slash; requests go to `${url}/v2/…`. */
  url: string;
  aliases: string[];
  credentials?: UpstreamCredentials;
  tagTtlSeconds: number;
  timeoutSeconds: number;
  allowPrivateAddresses: boolean;
  /** True for Docker Hub: one-segment names get `library/`. */
  dockerHub: boolean;
}

export interface UpstreamsConfig {
  upstreams: UpstreamConfig[];
  /** The upstream for un-prefixed names in mirror mode. */
  defaultUpstream: UpstreamConfig;
}

export interface UpstreamTarget {
  upstream: UpstreamConfig;
  /** Repository name at the upstream, `library/`-normalized for Docker Hub. */
  repository: string;
}

/** Used when UPSTREAMS is unset. Anonymous; add credentials by setting UPSTREAMS. */
export const DEFAULT_UPSTREAMS: readonly UpstreamEntry[] = [
  { name: "docker.io", url: "https://registry-1.docker.io", aliases: ["index.docker.io", "registry-1.docker.io"] },
  { name: "ghcr.io", url: "https://ghcr.io" },
  { name: "quay.io", url: "https://quay.io" },
  { name: "gcr.io", url: "https://gcr.io" },
  { name: "registry.k8s.io", url: "https://registry.k8s.io" },
];

export const DEFAULT_UPSTREAM_NAME = "docker.io";

/**
 * Validates UPSTREAMS / DEFAULT_UPSTREAM from the Worker env and resolves credentials from
 * secrets. Every entry is checked on its own, so all problems are reported at once (as
 * sentences naming the field); `config` is set only when there are none.
 */
export function readUpstreams(env: Record<string, unknown>): { config?: UpstreamsConfig; problems: string[] } {
  const raw = readEntries(env.UPSTREAMS);
  if ("problem" in raw) return { problems: [raw.problem] };
  const entries = raw.entries;
  if (!Array.isArray(entries)) return { problems: ['UPSTREAMS must be a JSON list of upstreams, such as [{"name": "docker.io", "url": "https://registry-1.docker.io"}]'] };
  if (entries.length === 0) return { problems: ["UPSTREAMS must list at least one upstream"] };

  const problems: string[] = [];
  const seen = new Map<string, string>();
  const upstreams: UpstreamConfig[] = [];
  entries.forEach((input: unknown, index) => {
    const field = `UPSTREAMS[${index}]`;
    const parsed = UpstreamEntrySchema.safeParse(input);
    if (!parsed.success) {
      problems.push(...describeIssues(field, parsed.error, input));
      return;
    }
    const entry = parsed.data;
    for (const host of [entry.name, ...entry.aliases]) {
      const owner = seen.get(host);
      if (owner !== undefined && owner !== field) problems.push(`${field}: "${host}" is already used by ${owner}`);
      seen.set(host, field);
    }
    const url = entry.url.replace(/\/+$/, "");
    const hostname = new URL(url).hostname.toLowerCase();
    const config: UpstreamConfig = {
      name: entry.name,
      url,
      aliases: [...new Set(entry.aliases.filter((alias) => alias !== entry.name))],
      tagTtlSeconds: entry.tagTtlSeconds,
      timeoutSeconds: entry.timeoutSeconds,
      allowPrivateAddresses: entry.allowPrivateAddresses,
      dockerHub: [entry.name, ...entry.aliases, hostname].some((host) => DOCKER_HUB_HOSTS.includes(host)),
    };
    const credentials = readCredentials(env, field, entry.usernameSecret, entry.passwordSecret, problems);
    if (credentials) config.credentials = credentials;
    upstreams.push(config);
  });
  // Which upstream is the default can only be judged once every entry is known.
  if (problems.length > 0) return { problems };

  const defaultName = env.DEFAULT_UPSTREAM ?? DEFAULT_UPSTREAM_NAME;
  if (typeof defaultName !== "string" || !defaultName.trim()) {
    return { problems: ["DEFAULT_UPSTREAM must be the name of a configured upstream"] };
  }
  const defaultUpstream = findIn(upstreams, defaultName);
  if (!defaultUpstream) {
    return { problems: [`DEFAULT_UPSTREAM "${defaultName}" is not a configured upstream (configured: ${upstreams.map((u) => u.name).join(", ")})`] };
  }
  return { config: { upstreams, defaultUpstream }, problems };
}

/** The upstream whose name or alias is `host` (case-insensitive). */
export function findUpstream(config: UpstreamsConfig, host: string): UpstreamConfig | undefined {
  return findIn(config.upstreams, host);
}

/** Adds `library/` to one-segment names on Docker Hub. */
export function normalizeRepository(upstream: UpstreamConfig, repository: string): string {
  return upstream.dockerHub && !repository.includes("/") ? `library/${repository}` : repository;
}

/**
 * Maps a /v2 repository path to an upstream:
 * - `docker.io/library/nginx`, `ghcr.io/org/app`: the first segment names an upstream (or alias);
 * - `library/nginx` with `ns=docker.io` (containerd mirrors): ns names the upstream, the whole
 *   path is the repository.
 * Returns undefined when neither applies: a hosted repository, or mirror mode (see mirrorTarget),
 * which the caller decides.
 */
export function resolveUpstreamName(config: UpstreamsConfig, path: string, ns?: string | null): UpstreamTarget | undefined {
  if (ns) {
    const upstream = findUpstream(config, ns);
    if (upstream && path) return { upstream, repository: normalizeRepository(upstream, path) };
  }
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return undefined;
  const upstream = findUpstream(config, path.slice(0, slash));
  if (!upstream) return undefined;
  return { upstream, repository: normalizeRepository(upstream, path.slice(slash + 1)) };
}

/** Mirror mode (dockerd `registry-mirrors`): an un-prefixed name goes to the default upstream. */
export function mirrorTarget(config: UpstreamsConfig, name: string): UpstreamTarget {
  return { upstream: config.defaultUpstream, repository: normalizeRepository(config.defaultUpstream, name) };
}

function findIn(upstreams: UpstreamConfig[], host: string): UpstreamConfig | undefined {
  const wanted = host.trim().toLowerCase();
  return upstreams.find((upstream) => upstream.name === wanted || upstream.aliases.includes(wanted));
}

function readEntries(raw: unknown): { entries: unknown } | { problem: string } {
  if (raw === undefined || raw === null || raw === "") return { entries: DEFAULT_UPSTREAMS };
  if (typeof raw !== "string") return { entries: raw };
  try {
    return { entries: JSON.parse(raw) };
  } catch (error) {
    return { problem: `UPSTREAMS is not valid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
}

function readCredentials(
  env: Record<string, unknown>,
  field: string,
  usernameSecret: string | undefined,
  passwordSecret: string | undefined,
  problems: string[],
): UpstreamCredentials | undefined {
  if (usernameSecret === undefined && passwordSecret === undefined) return undefined;
  if (usernameSecret === undefined || passwordSecret === undefined) {
    problems.push(`${field}: usernameSecret and passwordSecret must be given together`);
    return undefined;
  }
  const username = env[usernameSecret];
  const password = env[passwordSecret];
  if (typeof username !== "string" || !username) problems.push(`${field}.usernameSecret: secret ${usernameSecret} is not set (wrangler secret put ${usernameSecret})`);
  if (typeof password !== "string" || !password) problems.push(`${field}.passwordSecret: secret ${passwordSecret} is not set (wrangler secret put ${passwordSecret})`);
  if (typeof username !== "string" || !username || typeof password !== "string" || !password) return undefined;
  return { username, password };
}
