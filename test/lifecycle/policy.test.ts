// Retention policy configuration and the glob patterns it uses (pure).

import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig as loadWholeConfig } from "../../src/config";

/** The configuration with local development's access mode, so only the retention settings vary. */
const loadConfig = (env: Record<string, unknown>) => loadWholeConfig({ AUTH_MODE: "open", ...env });
import { compilePattern } from "../../src/registry/glob";
import { policyFor } from "../../src/registry/retention-policy";

describe("repository and tag patterns", () => {
  it.each([
    ["team/*", "team/app", true],
    ["team/*", "team/app/sub", false],
    ["team/**", "team/app/sub", true],
    ["team/**", "team", false],
    ["**/cache", "docker.io/library/cache", true],
    ["team/**/app", "team/app", true],
    ["team/**/app", "team/a/b/app", true],
    ["build-*", "build-42", true],
    ["build-*", "release-1", false],
    ["v?.*", "v1.2", true],
    ["v1.0", "v1x0", false],
    ["docker.io/library/*", "docker.io/library/nginx", true],
  ])("%s matches %s: %s", (pattern, value, expected) => {
    expect(compilePattern(pattern)(value)).toBe(expected);
  });
});

describe("RETENTION_POLICIES", () => {
  it("parses JSON with durations in units and first-match semantics", () => {
    const config = loadConfig({
      RETENTION_POLICIES: JSON.stringify([
        { repositories: "ci/**", keepTags: [{ pattern: "pr-*", keep: 5 }], deleteUntaggedAfter: "7d" },
        { repositories: "**", evictUnpulledAfter: "12h", deleteUntaggedAfter: 90 },
      ]),
    });
    expect(config.retentionPolicies).toEqual([
      { repositories: "ci/**", keepTags: [{ pattern: "pr-*", keep: 5 }], deleteUntaggedAfterSeconds: 7 * 86400, evictUnpulledAfterSeconds: undefined },
      { repositories: "**", keepTags: [], deleteUntaggedAfterSeconds: 90, evictUnpulledAfterSeconds: 12 * 3600 },
    ]);
    expect(policyFor(config.retentionPolicies, "ci/web/app")?.repositories).toBe("ci/**");
    expect(policyFor(config.retentionPolicies, "other")?.repositories).toBe("**");
    expect(loadConfig({}).retentionPolicies).toEqual([]);
  });

  it("accepts a TOML array of tables (an already-parsed array)", () => {
    expect(loadConfig({ RETENTION_POLICIES: [{ repositories: "a/*", deleteUntaggedAfter: "2w" }] }).retentionPolicies[0]?.deleteUntaggedAfterSeconds).toBe(14 * 86400);
  });

  it.each([
    ["not json", /RETENTION_POLICIES.*not valid JSON/],
    ['[{"repositories":"a","deleteUntaggedAfter":"7 days"}]', /RETENTION_POLICIES\[0\]\.deleteUntaggedAfter "7 days" must be a duration/],
    ['[{"repositories":"a","keepTags":[{"pattern":"x","keep":-1}]}]', /RETENTION_POLICIES\[0\]\.keepTags\[0\]\.keep -1 must be at least 0/],
    ['[{"repositories":"a","keepTag":[]}]', /RETENTION_POLICIES\[0\] has unknown key "keepTag"/],
    ['{"repositories":"a"}', /RETENTION_POLICIES must be a list, not an object/],
  ])("rejects %s with a message naming the field", (value, message) => {
    expect(() => loadConfig({ RETENTION_POLICIES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ RETENTION_POLICIES: value })).toThrow(message);
  });

  it("REFERRERS_ON_SUBJECT_DELETE is keep or delete", () => {
    expect(loadConfig({}).referrersOnSubjectDelete).toBe("keep");
    expect(loadConfig({ REFERRERS_ON_SUBJECT_DELETE: "delete" }).referrersOnSubjectDelete).toBe("delete");
    expect(() => loadConfig({ REFERRERS_ON_SUBJECT_DELETE: "cascade" })).toThrow(/REFERRERS_ON_SUBJECT_DELETE/);
  });
});
