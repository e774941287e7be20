// Trust rules: which GitHub workflows get which grants. A rule matches when every field it
// sets matches the token's claims; the workflow gets the grants of all matching rules. Ids
// (`repository_id`, `repository_owner_id`) are compared exactly, names case-insensitively
// (GitHub's names are), and the other matchers are globs from src/registry/glob.ts.

import { z } from "zod";
import { compilePattern } from "../registry/glob";
import type { Grant } from "./identity";
import type { TrustRule } from "./oidc-config";
import { unauthorized } from "./oidc-jwt";

const claim = z.string().max(1024);
const id = claim.regex(/^[0-9]+$/);

/** The GitHub claims trust rules read (https://docs.github.com/actions/reference/security/oidc). */
const GitHubClaimsSchema = z.object({
  repository: claim.regex(/^[^/\s]+\/[^/\s]+$/),
  repository_id: id,
  repository_owner: claim,
  repository_owner_id: id,
  ref: claim,
  ref_type: claim.optional(),
  environment: claim.optional(),
  event_name: claim.optional(),
  workflow_ref: claim.optional(),
  job_workflow_ref: claim.optional(),
});

export type GitHubClaims = z.infer<typeof GitHubClaimsSchema>;

/** The claims as GitHub sends them, or UNAUTHORIZED naming the first missing or malformed one. */
export function githubClaims(payload: Record<string, unknown>): GitHubClaims {
  const parsed = GitHubClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw unauthorized(`claim ${issue.path.join(".")} is missing or malformed (not a GitHub Actions ID token?)`);
  }
  return parsed.data;
}

function globs(patterns: string[] | undefined, value: string | undefined): boolean {
  if (patterns === undefined) return true;
  if (value === undefined) return false;
  return patterns.some((pattern) => compilePattern(pattern)(value));
}

const sameName = (a: string | undefined, b: string) => a === undefined || a.toLowerCase() === b.toLowerCase();

export function ruleMatches(rule: TrustRule, claims: GitHubClaims): boolean {
  return (
    rule.repositoryOwnerId === claims.repository_owner_id &&
    (rule.repositoryId === undefined || rule.repositoryId === claims.repository_id) &&
    sameName(rule.repository, claims.repository) &&
    sameName(rule.repositoryOwner, claims.repository_owner) &&
    (rule.refType === undefined || rule.refType === claims.ref_type) &&
    globs(rule.ref, claims.ref) &&
    globs(rule.environment, claims.environment) &&
    globs(rule.eventName, claims.event_name) &&
    globs(rule.workflowRef, claims.workflow_ref) &&
    globs(rule.jobWorkflowRef, claims.job_workflow_ref)
  );
}

/** The grants of every matching rule (empty: no rule trusts this workflow). */
export function grantsFor(rules: TrustRule[], claims: GitHubClaims): Grant[] {
  const grants: Grant[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    if (!ruleMatches(rule, claims)) continue;
    for (const grant of rule.grants) {
      const key = JSON.stringify([grant.repositories, grant.actions]);
      if (seen.has(key)) continue;
      seen.add(key);
      grants.push({ repositories: grant.repositories, actions: [...grant.actions] });
    }
  }
  return grants;
}
