import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, validateConfig } from "./config";

/** Local development's access mode, so each case isolates the one problem it names. */
const OPEN = { AUTH_MODE: "open" };

const problems = (env: Record<string, unknown>): string[] => {
  const result = validateConfig({ ...OPEN, ...env });
  return "problems" in result ? result.problems : [];
};

describe("validateConfig: the whole configuration at once", () => {
  it("the defaults need only the token signing key: nothing set fails closed", () => {
    expect(problems({ AUTH_MODE: undefined })).toEqual([expect.stringMatching(/^TOKEN_SIGNING_KEY is not set: authentication is required/)]);
    const result = validateConfig({ TOKEN_SIGNING_KEY: "k".repeat(48) });
    expect("config" in result && result.config).toMatchObject({
      blobGraceSeconds: 3600,
      uploadExpirySeconds: 86400,
      maxManifestBytes: 4 * 1024 * 1024,
      maxChunkBytes: 100_000_000,
      fillSliceSeconds: 600,
      fillRetries: 5,
      retentionPolicies: [],
      referrersOnSubjectDelete: "keep",
      mirrorMode: false,
      upstreams: { defaultUpstream: { name: "docker.io" } },
    });
  });

  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ["a number as a [vars] string", { BLOB_GRACE_SECONDS: "abc" }, ['BLOB_GRACE_SECONDS "abc" must be a whole number']],
    ["a negative number", { UPLOAD_EXPIRY_SECONDS: "-5" }, ['UPLOAD_EXPIRY_SECONDS "-5" must be a whole number']],
    ["a fraction", { MAX_CHUNK_BYTES: 1.5 }, ["MAX_CHUNK_BYTES 1.5 must be a whole number, not a fraction"]],
    ["below the minimum", { MAX_MANIFEST_BYTES: "1000" }, ['MAX_MANIFEST_BYTES "1000" must be at least 4194304']],
    ["zero where a positive number is needed", { MAX_CHUNK_BYTES: "0" }, ['MAX_CHUNK_BYTES "0" must be at least 1']],
    ["a fill slice of no time", { FILL_SLICE_SECONDS: "0" }, ['FILL_SLICE_SECONDS "0" must be at least 1']],
    ["negative fill retries", { FILL_RETRIES: "-1" }, ['FILL_RETRIES "-1" must be a whole number']],
    ["a boolean where a number is needed", { BLOB_GRACE_SECONDS: true }, ["BLOB_GRACE_SECONDS true must be a number or a string"]],
    ["an unknown choice", { MIRROR_MODE: "yes" }, ['MIRROR_MODE "yes" must be one of "true", "false", ""']],
    ["a secret is never echoed", { ADMIN_TOKEN: 123456789 }, ["ADMIN_TOKEN must be a string, not a number"]],
    [
      "an upstream name with a port",
      { UPSTREAMS: '[{"name":"docker.io","url":"https://registry-1.docker.io"},{"name":"reg:5000","url":"http://reg:5000"}]' },
      ['UPSTREAMS[1].name "reg:5000" must not contain a port: it is the first path segment of /v2/<name>/…, which has no port (put the port in url, and host:port in aliases for containerd\'s ns)'],
    ],
    [
      "an unknown key in an upstream",
      { UPSTREAMS: '[{"name":"docker.io","url":"https://x","tagTTL":5}]' },
      ['UPSTREAMS[0] has unknown key "tagTTL" (a typo? credentials go in secrets named by usernameSecret/passwordSecret)'],
    ],
    ["a retention policy duration", { RETENTION_POLICIES: '[{"repositories":"a","deleteUntaggedAfter":"7 days"}]' }, ['RETENTION_POLICIES[0].deleteUntaggedAfter "7 days" must be a duration such as "45s", "30m", "12h", "7d" or "2w", or a number of seconds']],
    [
      "GitHub OIDC is part of the configuration",
      { OIDC_TRUST: '[{"repositoryOwnerId":"1","grants":[{"repositories":"a/**","actions":["pull"]}]}]' },
      [expect.stringMatching(/^invalid GitHub OIDC configuration: OIDC_AUDIENCE is required when OIDC_TRUST is set/)] as unknown as string[],
    ],
    [
      "every problem of every part, in one report",
      {
        MAX_CHUNK_BYTES: "lots",
        MIRROR_MODE: "yes",
        RETENTION_POLICIES: '[{"repositories":"a","keepTags":[{"pattern":"x","keep":-1}]}]',
        UPSTREAMS: '[{"name":"reg:5000","url":"http://reg:5000"},{"name":"a.io","url":"nope"},{"name":"b.io","url":"https://b","tagTTL":5}]',
      },
      [
        'MAX_CHUNK_BYTES "lots" must be a whole number',
        "RETENTION_POLICIES[0].keepTags[0].keep -1 must be at least 0",
        'MIRROR_MODE "yes" must be one of "true", "false", ""',
        expect.stringMatching(/^UPSTREAMS\[0\]\.name "reg:5000" must not contain a port/),
        expect.stringMatching(/^UPSTREAMS\[1\]\.url "nope" must be an http\(s\) URL/),
        expect.stringMatching(/^UPSTREAMS\[2\] has unknown key "tagTTL"/),
      ] as unknown as string[],
    ],
  ];
  it.each(cases)("%s", (_name, env, expected) => {
    expect(problems(env)).toEqual(expected);
  });

  it("never speaks the validator's language", () => {
    const all = cases.flatMap(([, env]) => problems(env)).join("\n");
    expect(all).not.toMatch(/Expected|received|nan|Required|Unrecognized|Invalid input/);
  });
});

describe("loadConfig", () => {
  it("validates once per env and throws the same ConfigError, listing every problem", () => {
    const env = { ...OPEN, MAX_CHUNK_BYTES: "lots", UPSTREAMS: '[{"name":"reg:5000","url":"http://reg:5000"}]' };
    let first: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(ConfigError);
    expect((first as ConfigError).problems).toHaveLength(2);
    expect((first as ConfigError).message).toMatch(/^invalid Berth configuration \(wrangler\.toml \[vars\] and secrets\): MAX_CHUNK_BYTES "lots" must be a whole number; UPSTREAMS\[0\]\.name "reg:5000" must not contain a port/);
    expect(() => loadConfig(env)).toThrow(first as Error);
  });

  it("returns the same object for the same env", () => {
    const env = { ...OPEN };
    expect(loadConfig(env)).toBe(loadConfig(env));
  });
});
