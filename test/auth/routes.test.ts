// Secure by default: every route in the router is either public by design (listed here,
// with the reason the router gives) or refused without credentials when AUTH_MODE=required.
// A route added later without thinking about access fails this test.
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../src/http/router";
import { authCall, parseChallenge, preparePasswordHash } from "./auth-env";

const PUBLIC_BY_DESIGN = new Set(["GET /token", "POST /token", "ALL /api/*", "ALL *"]);
const DIGEST = `sha256:${"a".repeat(64)}`;

function concretePath(path: string): string {
  return path
    .replace(":name+", "walk/private/app")
    .replace(":digest", DIGEST)
    .replace(":reference", "latest")
    .replace(":id", "00000000-0000-0000-0000-000000000000")
    .replace(/\*$/, "anything");
}

beforeAll(preparePasswordHash);

describe("every route", () => {
  it("has a declared access rule (the router refuses none)", () => {
    expect(ROUTES.length).toBeGreaterThan(20);
    for (const route of ROUTES) expect(route.access, `${route.method} ${route.path}`).toBeTypeOf("object");
  });

  it("the public routes are exactly the ones listed here", () => {
    const open = ROUTES.filter((r) => "public" in r.access).map((r) => `${r.method} ${r.path}`);
    expect(new Set(open)).toEqual(PUBLIC_BY_DESIGN);
  });

  for (const route of ROUTES.filter((r) => !("public" in r.access))) {
    const methods = route.method === "ALL" ? ["GET", "PUT", "DELETE"] : [route.method];
    for (const method of methods) {
      it(`${method} ${route.path} → 401 with a Bearer challenge without credentials`, async () => {
        const path = concretePath(route.path) + (route.path.includes("resolve") || route.path.includes("inspect") ? "?ref=walk/private/app:1" : "");
        // The shipped default: no anonymous rules.
        const response = await authCall(method, path, method === "PUT" || method === "PATCH" || method === "POST" ? { body: "{}" } : {}, { ANONYMOUS_PULL: "[]" });
        expect(response.status).toBe(401);
        const challenge = parseChallenge(response.headers.get("WWW-Authenticate"));
        expect(challenge.realm).toBe("https://berth.test/token");
        expect(challenge.service).toBe("berth.test");
        if (method !== "HEAD") expect(((await response.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("UNAUTHORIZED");
      });
      it(`${method} ${route.path} → 401 with a forged token`, async () => {
        const response = await authCall(method, concretePath(route.path), { headers: { Authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl" } });
        expect(response.status).toBe(401);
        expect(parseChallenge(response.headers.get("WWW-Authenticate")).error).toBe("invalid_token");
      });
    }
  }
});

describe("with anonymous pull of everything (ANONYMOUS_PULL [\"**\"])", () => {
  const writes = ROUTES.filter((r) => "admin" in r.access || ("repository" in r.access && r.access.repository.some((a) => a !== "pull")));
  for (const route of writes) {
    it(`${route.method} ${route.path} still → 401`, async () => {
      const response = await authCall(route.method, concretePath(route.path), route.method === "GET" || route.method === "DELETE" ? {} : { body: "{}" }, { ANONYMOUS_PULL: '["**"]' });
      expect(response.status).toBe(401);
      expect(parseChallenge(response.headers.get("WWW-Authenticate")).scope ?? "registry:admin:*").toMatch(/push|delete|admin/);
    });
  }
  it("/v2/ still → 401 without credentials (clients learn the token endpoint from it)", async () => {
    expect((await authCall("GET", "/v2/", {}, { ANONYMOUS_PULL: '["**"]' })).status).toBe(401);
  });
});

describe("a deployment without its signing key", () => {
  it("fails closed with a configuration error naming TOKEN_SIGNING_KEY, even for the token endpoint", async () => {
    for (const path of ["/v2/", "/v2/public/app/tags/list", "/token", "/api/v1/repositories"]) {
      const response = await authCall("GET", path, {}, { TOKEN_SIGNING_KEY: "" });
      expect(response.status, path).toBe(500);
      expect(await response.text()).toContain("TOKEN_SIGNING_KEY");
    }
  });
  it("an unknown AUTH_MODE is a configuration error, not open", async () => {
    const response = await authCall("GET", "/v2/", {}, { AUTH_MODE: "off" });
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("AUTH_MODE");
  });
});
