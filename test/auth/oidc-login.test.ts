// A workflow's GitHub OIDC ID token as the password at /token (what the login action sends):
// a token for the trusted repository gets its grants; a wrong audience, an expired token or a
// forged signature gets 401; a repository no rule trusts gets 403.
import { beforeAll, describe, expect, it } from "vitest";
import { authCall, basic, bearer, preparePasswordHash } from "./auth-env";
import { githubClaims, localIssuer, rsaKey, sign, type TestKey } from "./oidc-keys";

const AUDIENCE = "https://berth.test";
let key: TestKey;
let attacker: TestKey;
let vars: Record<string, string>;

beforeAll(async () => {
  await preparePasswordHash();
  key = await rsaKey("k1");
  attacker = await rsaKey("k1");
  const issuer = await localIssuer("berth-login", [key]);
  vars = {
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_TRUST: JSON.stringify([{ repository: "berth-test/app", repositoryId: "123456", repositoryOwnerId: "654321", ref: "refs/heads/main", grants: [{ repositories: "berth-test/app/**", actions: ["pull", "push"] }] }]),
  };
});

async function exchange(idToken: string): Promise<Response> {
  return authCall("GET", "/token?service=berth.test&scope=repository:berth-test/app/image:pull,push", { headers: basic("github-actions", idToken) }, vars);
}

const now = () => Math.floor(Date.now() / 1000);

describe("GitHub Actions OIDC at /token", () => {
  it("a trusted workflow's ID token becomes a token with the rule's grants", async () => {
    const response = await exchange(await sign(key, githubClaims(vars.OIDC_ISSUER!, AUDIENCE, now())));
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    const upload = await authCall("POST", "/v2/berth-test/app/image/blobs/uploads/", { headers: bearer(token) }, vars);
    expect(upload.status).toBe(202);
    const elsewhere = await authCall("GET", "/token?service=berth.test&scope=repository:other/app:pull,push", { headers: basic("github-actions", await sign(key, githubClaims(vars.OIDC_ISSUER!, AUDIENCE, now()))) }, vars);
    const claims = JSON.parse(atob(((await elsewhere.json()) as { token: string }).token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { sub: string; access: unknown };
    expect(claims.sub).toBe("github:berth-test/app@refs/heads/main");
    expect(claims.access).toEqual([{ type: "repository", name: "other/app", actions: [] }]);
  });

  it.each([
    ["a wrong audience", async () => sign(key, githubClaims(vars.OIDC_ISSUER!, "https://elsewhere", now())), 401],
    ["an expired token", async () => sign(key, githubClaims(vars.OIDC_ISSUER!, AUDIENCE, now() - 7200)), 401],
    ["a forged signature", async () => sign(attacker, githubClaims(vars.OIDC_ISSUER!, AUDIENCE, now())), 401],
    ["another repository", async () => sign(key, githubClaims(vars.OIDC_ISSUER!, AUDIENCE, now(), { repository: "evil/app", repository_id: "999" })), 403],
  ] as const)("%s is refused", async (_label, make, status) => {
    expect((await exchange(await make())).status).toBe(status);
  });
});
