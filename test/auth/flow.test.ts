// The token protocol end to end inside the Worker, with AUTH_MODE=required: logins, scoped tokens,
// 401 vs 403, anonymous pulls, listings filtered per caller, Cache-Control, cross-repository
// mounts, robot tokens and their revocation, the login throttle, refresh tokens, tag history actors.
import { beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../helpers";
import { PASSWORD, authCall, basic, bearer, parseChallenge, preparePasswordHash, tokenFor } from "./auth-env";

beforeAll(preparePasswordHash);

const alice = basic("alice", PASSWORD);
const root = basic("root", PASSWORD);
let address = 0;
/** A fresh client address per test, so the login throttle of one test does not leak into another. */
const from = () => ({ "CF-Connecting-IP": `192.0.2.${++address}` });

async function push(name: string, tag: string, headers: Record<string, string>, layer = `layer of ${name}:${tag} ${Math.random()}`): Promise<{ status: number; digest: string; layer: string }> {
  const bytes = new TextEncoder().encode(layer);
  const layerDigest = await sha256(bytes);
  const blob = await authCall("POST", `/v2/${name}/blobs/uploads/?digest=${layerDigest}`, { body: bytes, headers });
  if (blob.status !== 201) return { status: blob.status, digest: "", layer: layerDigest };
  const config = new TextEncoder().encode("{}");
  const configDigest = await sha256(config);
  await authCall("POST", `/v2/${name}/blobs/uploads/?digest=${configDigest}`, { body: config, headers });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: bytes.length }],
  });
  const put = await authCall("PUT", `/v2/${name}/manifests/${tag}`, { body: manifest, headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
  return { status: put.status, digest: await sha256(manifest), layer: layerDigest };
}

describe("docker's token flow", () => {
  it("a user logs in at /token, pushes and pulls with the token; the token holds only what was granted", async () => {
    const token = await tokenFor(["repository:team/app:pull,push"], { ...alice, ...from() });
    const pushed = await push("team/app", "v1", bearer(token));
    expect(pushed.status).toBe(201);
    const pulled = await authCall("GET", "/v2/team/app/manifests/v1", { headers: { ...bearer(token), Accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(pulled.status).toBe(200);
    expect(pulled.headers.get("Docker-Content-Digest")).toBe(pushed.digest);

    // the same token does not reach another repository: the client never asked → 401 insufficient_scope
    const other = await authCall("GET", "/v2/team/other/tags/list", { headers: bearer(token) });
    expect(other.status).toBe(401);
    expect(parseChallenge(other.headers.get("WWW-Authenticate"))).toMatchObject({ scope: "repository:team/other:pull", error: "insufficient_scope" });
  });

  it("asking for more than granted is not an error; using it answers 403 DENIED", async () => {
    const response = await authCall("GET", "/token?service=berth.test&scope=repository:shared/lib:pull,push", { headers: { ...alice, ...from() } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(Date.parse(body.issued_at)).toBeGreaterThan(0);
    const claims = JSON.parse(atob(body.token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { access: unknown };
    expect(claims.access).toEqual([{ type: "repository", name: "shared/lib", actions: ["pull"] }]);
    const denied = await authCall("POST", "/v2/shared/lib/blobs/uploads/", { headers: bearer(body.token) });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("DENIED");
    expect(parseChallenge(denied.headers.get("WWW-Authenticate"))).toMatchObject({ scope: "repository:shared/lib:pull,push", error: "insufficient_scope" });
  });

  it("a wrong password is 401 at /token and at /v2/", async () => {
    const headers = { ...basic("alice", "wrong"), ...from() };
    expect((await authCall("GET", "/token?service=berth.test", { headers })).status).toBe(401);
    const direct = await authCall("GET", "/v2/team/app/tags/list", { headers });
    expect(direct.status).toBe(401);
    expect(parseChallenge(direct.headers.get("WWW-Authenticate")).realm).toBe("https://berth.test/token");
  });

  it("Basic credentials straight to /v2/ work (curl, scripts)", async () => {
    const ping = await authCall("GET", "/v2/", { headers: { ...alice, ...from() } });
    expect(ping.status).toBe(200);
    const tags = await authCall("GET", "/v2/team/app/tags/list", { headers: { ...alice, ...from() } });
    expect(tags.status).toBe(200);
    const denied = await authCall("DELETE", "/v2/shared/lib/manifests/latest", { headers: { ...alice, ...from() } });
    expect(denied.status).toBe(403);
  });

  it("the tag history names who moved the tag", async () => {
    const history = await authCall("GET", "/api/v1/repositories/team/app/history?tag=v1", { headers: { ...alice, ...from() } });
    expect(history.status).toBe(200);
    const body = (await history.json()) as { history: { actor: string | null }[] };
    expect(body.history.at(-1)?.actor).toBe("alice");
  });
});

describe("anonymous callers", () => {
  it("pull what ANONYMOUS_PULL opens, with public caching; nothing else", async () => {
    const pushed = await push("public/tool", "1", root);
    expect(pushed.status).toBe(201);
    const blob = await authCall("GET", `/v2/public/tool/blobs/${pushed.layer}`);
    expect(blob.status).toBe(200);
    expect(blob.headers.get("Cache-Control")).toMatch(/^public/);
    await blob.arrayBuffer();
    const token = await tokenFor(["repository:public/tool:pull,push", "repository:team/app:pull"]);
    expect((await authCall("GET", "/v2/public/tool/tags/list", { headers: bearer(token) })).status).toBe(200);
    // refused to an anonymous caller → 401 (log in), never 403
    for (const [method, path] of [["POST", "/v2/public/tool/blobs/uploads/"], ["GET", "/v2/team/app/tags/list"]] as const) {
      const response = await authCall(method, path, { headers: bearer(token) });
      expect(response.status, path).toBe(401);
    }
    expect((await authCall("GET", "/v2/team/app/tags/list")).status).toBe(401);
  });

  it("the same blob fetched with credentials is private", async () => {
    const pushed = await push("team/cache", "1", alice);
    const blob = await authCall("GET", `/v2/team/cache/blobs/${pushed.layer}`, { headers: { ...alice, ...from() } });
    expect(blob.status).toBe(200);
    expect(blob.headers.get("Cache-Control")).toMatch(/^private/);
    await blob.arrayBuffer();
  });
});

describe("listings and the JSON API", () => {
  it("the catalog and /api/v1/repositories show only what the caller may pull", async () => {
    await push("secret/x", "1", root);
    const names = async (path: string, headers: Record<string, string>) => {
      const response = await authCall("GET", path, { headers });
      expect(response.status, path).toBe(200);
      const body = (await response.json()) as { repositories: Array<string | { name: string }> };
      return body.repositories.map((r) => (typeof r === "string" ? r : r.name));
    };
    const forAlice = await names("/v2/_catalog?n=1000", { ...alice, ...from() });
    expect(forAlice).toContain("team/app");
    expect(forAlice).not.toContain("secret/x");
    expect(forAlice.every((n) => n.startsWith("team/") || n.startsWith("shared/"))).toBe(true);
    const anonymous = await names("/api/v1/repositories?n=1000", {});
    expect(anonymous).toContain("public/tool");
    expect(anonymous.every((n) => n.startsWith("public/"))).toBe(true);
    expect(await names("/v2/_catalog?n=1000", root)).toContain("secret/x");
    // a token for the catalog scope filters the same way
    const token = await tokenFor(["registry:catalog:*"], { ...alice, ...from() });
    expect(await names("/v2/_catalog?n=1000", bearer(token))).toEqual(forAlice);
  });

  it("resolve, inspect, tags, history and usage of a repository the caller cannot pull are refused", async () => {
    for (const path of ["/api/v1/resolve?ref=berth.test/secret/x:1", "/api/v1/inspect?ref=berth.test/secret/x:1", "/api/v1/repositories/secret/x/tags", "/api/v1/repositories/secret/x/history", "/api/v1/repositories/secret/x/usage"]) {
      expect((await authCall("GET", path, { headers: { ...alice, ...from() } })).status, path).toBe(403);
      expect((await authCall("GET", path)).status, path).toBe(401);
    }
    expect((await authCall("GET", "/api/v1/resolve?ref=berth.test/secret/x:1", { headers: root })).status).toBe(200);
  });

  it("admin endpoints need the admin grant", async () => {
    expect((await authCall("POST", "/api/v1/admin/retention?dryRun=1", { headers: { ...alice, ...from() } })).status).toBe(403);
    expect((await authCall("POST", "/api/v1/admin/retention?dryRun=1", { headers: root })).status).toBe(200);
    // a token asked for the admin scope by a non-admin carries it refused: 403
    const token = await tokenFor(["registry:admin:*"], { ...alice, ...from() });
    expect((await authCall("POST", "/api/v1/admin/retention?dryRun=1", { headers: bearer(token) })).status).toBe(403);
    const rootToken = await tokenFor(["registry:admin:*"], root);
    expect((await authCall("GET", "/api/v1/admin/tokens", { headers: bearer(rootToken) })).status).toBe(200);
    const admin = { ADMIN_TOKEN: "an-admin-token-of-some-length" };
    expect((await authCall("POST", "/api/v1/admin/retention?dryRun=1", { headers: bearer("an-admin-token-of-some-length") }, admin)).status).toBe(200);
  });
});

describe("cross-repository mounts", () => {
  it("mount needs pull on the source; without it the answer is a normal upload (202)", async () => {
    const secret = await push("secret/mount-source", "1", root);
    const token = await tokenFor(["repository:team/mounted:pull,push", "repository:secret/mount-source:pull"], { ...alice, ...from() });
    const refused = await authCall("POST", `/v2/team/mounted/blobs/uploads/?mount=${secret.layer}&from=secret/mount-source`, { headers: bearer(token) });
    expect(refused.status).toBe(202);
    const shared = await push("team/mount-source", "1", alice);
    const mounted = await authCall("POST", `/v2/team/mounted/blobs/uploads/?mount=${shared.layer}&from=team/mount-source`, { headers: { ...alice, ...from() } });
    expect(mounted.status).toBe(201);
  });
});

describe("robot tokens", () => {
  it("are created by an admin, shown once, usable as a Basic password, scoped, and revocable", async () => {
    const created = await authCall("POST", "/api/v1/admin/tokens", {
      headers: { ...root, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "ci-reader", grants: [{ repositories: "team/**", actions: ["pull"] }], expiresIn: "1d" }),
    });
    expect(created.status).toBe(201);
    const robot = (await created.json()) as { id: string; token: string; expiresAt: string };
    expect(robot.token).toMatch(/^berth_/);

    const listed = (await (await authCall("GET", "/api/v1/admin/tokens", { headers: root })).json()) as { tokens: Array<Record<string, unknown>> };
    const entry = listed.tokens.find((t) => t.id === robot.id);
    expect(entry).toMatchObject({ name: "ci-reader", revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(robot.token);

    const headers = { ...basic("robot", robot.token), ...from() };
    const token = await tokenFor(["repository:team/app:pull,push"], headers);
    expect((await authCall("GET", "/v2/team/app/tags/list", { headers: bearer(token) })).status).toBe(200);
    expect((await authCall("POST", "/v2/team/app/blobs/uploads/", { headers: bearer(token) })).status).toBe(403);
    expect((await authCall("GET", "/v2/team/app/tags/list", { headers: bearer(robot.token) })).status).toBe(200);

    expect((await authCall("DELETE", `/api/v1/admin/tokens/${robot.id}`, { headers: root })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    expect((await authCall("GET", "/v2/team/app/tags/list", { headers: bearer(token) })).status).toBe(401);
    expect((await authCall("GET", "/token?service=berth.test", { headers })).status).toBe(401);
    expect((await authCall("DELETE", `/api/v1/admin/tokens/${robot.id}-nope`, { headers: root })).status).toBe(404);
  });

  it("creating one needs the admin grant and a valid request", async () => {
    const body = JSON.stringify({ name: "x", grants: [{ repositories: "**", actions: ["admin"] }] });
    expect((await authCall("POST", "/api/v1/admin/tokens", { headers: { ...alice, ...from() }, body })).status).toBe(403);
    const bad = await authCall("POST", "/api/v1/admin/tokens", { headers: root, body: JSON.stringify({ name: "x", grants: [{ repositories: "**", actions: ["fly"] }] }) });
    expect(bad.status).toBe(400);
  });
});

describe("the login throttle", () => {
  it("after 10 failures from one address every attempt answers 429 with Retry-After, even the right password", async () => {
    const address = { "CF-Connecting-IP": "198.51.100.7" };
    for (let i = 0; i < 10; i++) expect((await authCall("GET", "/token?service=berth.test", { headers: { ...basic("alice", `guess${i}`), ...address } })).status).toBe(401);
    const blocked = await authCall("GET", "/token?service=berth.test", { headers: { ...alice, ...address } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(((await blocked.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("TOOMANYREQUESTS");
    expect((await authCall("GET", "/token?service=berth.test", { headers: { ...alice, ...from() } })).status).toBe(200);
  });
});

describe("OAuth2 POST /token", () => {
  it("password grant with access_type=offline returns a refresh token; the refresh grant then works", async () => {
    const form = new URLSearchParams({ grant_type: "password", username: "alice", password: PASSWORD, service: "berth.test", scope: "repository:team/app:pull", client_id: "test", access_type: "offline" });
    const first = await authCall("POST", "/token", { body: form, headers: { "Content-Type": "application/x-www-form-urlencoded", ...from() } });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { access_token: string; refresh_token: string };
    expect(body.refresh_token).toBeTruthy();
    const again = await authCall("POST", "/token", {
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: body.refresh_token, service: "berth.test", scope: "repository:team/app:pull repository:team/app:push" }),
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...from() },
    });
    expect(again.status).toBe(200);
    const token = ((await again.json()) as { access_token: string }).access_token;
    expect((await authCall("GET", "/v2/team/app/tags/list", { headers: bearer(token) })).status).toBe(200);
    // a refresh token is not an access token
    expect((await authCall("GET", "/v2/team/app/tags/list", { headers: bearer(body.refresh_token) })).status).toBe(401);
    const wrong = await authCall("POST", "/token", { body: new URLSearchParams({ grant_type: "password", username: "alice", password: "no" }), headers: { "Content-Type": "application/x-www-form-urlencoded", ...from() } });
    expect(wrong.status).toBe(401);
  });
});
