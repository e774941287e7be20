// GitHub OIDC configuration (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_TRUST) and trust rule matching.
import { env as workerEnv } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { GITHUB_ISSUER, parseOidcConfig } from "../../src/auth/github-oidc";
import { grantsFor, type GitHubClaims } from "../../src/auth/oidc-trust";

const rule = (fields: Record<string, unknown>) => ({ repositoryOwnerId: "654321", grants: [{ repositories: "team/**", actions: ["pull"] }], ...fields });
const env = (rules: unknown, extra: Record<string, unknown> = {}) => ({ OIDC_AUDIENCE: "https://berth.test", OIDC_TRUST: JSON.stringify(rules), ...extra });

describe("parseOidcConfig", () => {
  it("is off when OIDC_TRUST is unset, empty or an empty list", () => {
    for (const trust of [undefined, "", "[]", []]) expect(parseOidcConfig({ OIDC_TRUST: trust, OIDC_AUDIENCE: "x" })).toBeUndefined();
  });

  it("is off in the shipped wrangler.toml, and the parsed result is reused for the same env", () => {
    expect(parseOidcConfig(workerEnv)).toBeUndefined();
    const values = env([rule({})]);
    expect(parseOidcConfig(values)).toBe(parseOidcConfig(values));
  });

  it("defaults the issuer to GitHub's and reads ids given as numbers", () => {
    const config = parseOidcConfig(env([rule({ repository: "org/app", repositoryId: 123, repositoryOwnerId: 456, ref: "refs/heads/main" })]));
    expect(config).toEqual({
      issuer: GITHUB_ISSUER,
      audience: "https://berth.test",
      rules: [{ repository: "org/app", repositoryId: "123", repositoryOwnerId: "456", ref: ["refs/heads/main"], grants: [{ repositories: "team/**", actions: ["pull"] }] }],
    });
  });

  it("accepts a TOML array of tables and a loopback http issuer (tests)", () => {
    const config = parseOidcConfig({ OIDC_AUDIENCE: "a", OIDC_ISSUER: "http://127.0.0.1:9999/issuers/x", OIDC_TRUST: [rule({})] });
    expect(config?.issuer).toBe("http://127.0.0.1:9999/issuers/x");
  });

  const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
    ["no audience", { OIDC_TRUST: JSON.stringify([rule({})]) }, /OIDC_AUDIENCE is required when OIDC_TRUST is set/],
    ["not JSON", { OIDC_AUDIENCE: "a", OIDC_TRUST: "[{" }, /OIDC_TRUST is not valid JSON/],
    ["not a list", env({ repositoryOwnerId: "1" }), /OIDC_TRUST: Expected array/],
    ["no owner id", env([{ repository: "org/app", repositoryId: "1", grants: [{ repositories: "a", actions: ["pull"] }] }]), /OIDC_TRUST\[0\]\.repositoryOwnerId: must be the numeric id GitHub shows/],
    ["a repository name without its id", env([rule({ repository: "org/app" })]), /OIDC_TRUST\[0\]\.repositoryId: repository and repositoryId must be given together/],
    ["an id without the name", env([rule({ repositoryId: "1" })]), /OIDC_TRUST\[0\]\.repository: repository and repositoryId must be given together/],
    ["an id that is not numeric", env([rule({ repositoryOwnerId: "org" })]), /repositoryOwnerId: must be the numeric id/],
    ["a repository that is not owner/name", env([rule({ repository: "app", repositoryId: "1" })]), /repository: must be owner\/name/],
    ["an owner that does not own the repository", env([rule({ repository: "org/app", repositoryId: "1", repositoryOwner: "other" })]), /repositoryOwner: does not own org\/app/],
    ["an unknown action", env([rule({ grants: [{ repositories: "a/**", actions: ["write"] }] })]), /grants\[0\]\.actions\[0\]: Invalid enum value. Expected 'pull' \| 'push' \| 'delete' \| 'admin'/],
    ["no grants", env([rule({ grants: [] })]), /grants: must give at least one grant/],
    ["a misspelt field", env([rule({ branch: "main" })]), /OIDC_TRUST\[0\]: Unrecognized key\(s\) in object: 'branch'/],
    ["an http issuer", env([rule({})], { OIDC_ISSUER: "http://token.example.com" }), /OIDC_ISSUER: must be an https URL/],
    ["an issuer with a trailing slash", env([rule({})], { OIDC_ISSUER: "https://token.actions.githubusercontent.com/" }), /OIDC_ISSUER: must be the issuer exactly/],
    ["an issuer that is not a URL", env([rule({})], { OIDC_ISSUER: "github" }), /OIDC_ISSUER: must be a URL/],
  ];
  it.each(invalid)("refuses %s with a message naming the field", (_name, values, message) => {
    expect(() => parseOidcConfig(values)).toThrow(message);
    expect(() => parseOidcConfig(values)).toThrow(/invalid GitHub OIDC configuration: /);
  });
});

describe("grantsFor", () => {
  const claims: GitHubClaims = {
    repository: "Org/App",
    repository_id: "123",
    repository_owner: "Org",
    repository_owner_id: "456",
    ref: "refs/heads/release/1.2",
    ref_type: "branch",
    environment: "production",
    event_name: "push",
    workflow_ref: "Org/App/.github/workflows/release.yml@refs/heads/release/1.2",
    job_workflow_ref: "Org/shared/.github/workflows/build.yml@refs/tags/v3",
  };
  const pull = [{ repositories: "org/app/**", actions: ["pull"] }];
  const base = { repository: "org/app", repositoryId: "123", repositoryOwnerId: "456", grants: pull };

  const cases: Array<[string, Record<string, unknown>, Partial<GitHubClaims>, boolean]> = [
    ["repository and ids (names compared case-insensitively)", base, {}, true],
    ["an owner-wide rule", { repositoryOwner: "org", repositoryOwnerId: "456", grants: pull }, {}, true],
    ["a re-created repository (same name, new id)", base, { repository_id: "124" }, false],
    ["a re-registered owner (same name, new id)", { repositoryOwner: "org", repositoryOwnerId: "456", grants: pull }, { repository_owner_id: "457" }, false],
    ["another repository with the same id? (renamed) — the name must match too", base, { repository: "org/renamed" }, false],
    ["ref glob within a segment", { ...base, ref: "refs/heads/release/*" }, {}, true],
    ["ref glob not crossing segments", { ...base, ref: "refs/heads/*" }, {}, false],
    ["ref glob ** crossing segments", { ...base, ref: "refs/heads/**" }, {}, true],
    ["one of several refs", { ...base, ref: ["refs/heads/main", "refs/tags/v*"] }, { ref: "refs/tags/v1.0.0", ref_type: "tag" }, true],
    ["refType", { ...base, refType: "tag" }, {}, false],
    ["environment", { ...base, environment: "production" }, {}, true],
    ["environment required but absent", { ...base, environment: "production" }, { environment: undefined }, false],
    ["eventName list", { ...base, eventName: ["push", "workflow_dispatch"] }, {}, true],
    ["eventName excludes pull_request_target", { ...base, eventName: ["push"] }, { event_name: "pull_request_target" }, false],
    ["workflowRef", { ...base, workflowRef: "Org/App/.github/workflows/release.yml@**" }, {}, true],
    ["jobWorkflowRef of a reusable workflow", { ...base, jobWorkflowRef: "Org/shared/.github/workflows/build.yml@refs/tags/v3" }, {}, true],
    ["jobWorkflowRef at another version", { ...base, jobWorkflowRef: "Org/shared/.github/workflows/build.yml@refs/tags/v3" }, { job_workflow_ref: "Org/shared/.github/workflows/build.yml@refs/heads/main" }, false],
  ];
  it.each(cases)("%s", (_name, fields, overrides, matches) => {
    const config = parseOidcConfig(env([fields]))!;
    expect(grantsFor(config.rules, { ...claims, ...overrides })).toEqual(matches ? pull : []);
  });

  it("gives the grants of every matching rule, once each", () => {
    const push = [{ repositories: "org/app/**", actions: ["pull", "push"] }];
    const config = parseOidcConfig(env([base, { ...base, ref: "refs/heads/release/**", grants: push }, { ...base, ref: "refs/heads/main", grants: [{ repositories: "x", actions: ["delete"] }] }, base]))!;
    expect(grantsFor(config.rules, claims)).toEqual([...pull, ...push]);
  });
});
