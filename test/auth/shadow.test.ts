// Names that stand in for other registries: pushing them needs a grant naming them explicitly,
// and a host configured as an upstream later never serves what somebody pushed under its name.
import { beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../helpers";
import { PASSWORD, PASSWORD_HASH, authCall, basic, preparePasswordHash } from "./auth-env";

beforeAll(preparePasswordHash);

const root = basic("root", PASSWORD);
const corp = basic("corp", PASSWORD);
const users = () =>
  JSON.stringify([
    { name: "root", passwordHash: PASSWORD_HASH, grants: [{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }] },
    { name: "corp", passwordHash: PASSWORD_HASH, grants: [{ repositories: "shadow.example/**", actions: ["pull", "push"] }, { repositories: "mirror-team/**", actions: ["pull", "push"] }] },
  ]);

async function pushTag(name: string, tag: string, headers: Record<string, string>, vars: Record<string, string>): Promise<{ status: number; digest: string }> {
  const config = new TextEncoder().encode(`{"n":"${name}"}`);
  const configDigest = await sha256(config);
  const blob = await authCall("POST", `/v2/${name}/blobs/uploads/?digest=${configDigest}`, { body: config, headers }, vars);
  if (blob.status !== 201) return { status: blob.status, digest: "" };
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers: [] });
  const put = await authCall("PUT", `/v2/${name}/manifests/${tag}`, { body: manifest, headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" } }, vars);
  return { status: put.status, digest: await sha256(manifest) };
}

describe("host-like names", () => {
  it("`**` does not let anybody push registry.corp.example/…; a grant naming the host does", async () => {
    const vars = { AUTH_USERS: users() };
    expect((await pushTag("shadow.example/team/app", "v1", root, vars)).status).toBe(403);
    expect((await pushTag("shadow.example/team/app", "v1", corp, vars)).status).toBe(201);
    expect((await pushTag("plain/team/app", "v1", root, vars)).status).toBe(201);
  });

  it("configuring the host as an upstream later never serves the pushed tag as the upstream's", async () => {
    const before = { AUTH_USERS: users() };
    const pushed = await pushTag("shadow.example/later/app", "v1", corp, before);
    expect(pushed.status).toBe(201);
    // the same name is now the cache of an upstream (here: nothing listens there)
    const after = { ...before, UPSTREAMS: JSON.stringify([{ name: "shadow.example", url: "http://127.0.0.1:9", allowPrivateAddresses: true, timeoutSeconds: 2 }]) };
    const manifest = await authCall("GET", "/v2/shadow.example/later/app/manifests/v1", { headers: corp }, after);
    expect(manifest.status).not.toBe(200);
    expect(manifest.headers.get("Docker-Content-Digest")).not.toBe(pushed.digest);
    await manifest.arrayBuffer();
    const tags = await authCall("GET", "/v2/shadow.example/later/app/tags/list", { headers: corp }, after);
    if (tags.status === 200) expect(((await tags.json()) as { tags: string[] }).tags).not.toContain("v1");
  });
});

describe("Docker Hub mirror mode", () => {
  it("un-prefixed names shadow Docker Hub's: `**` cannot push them, an explicit grant can", async () => {
    const vars = { AUTH_USERS: users(), MIRROR_MODE: "true" };
    expect((await pushTag("library/mirror-shadow", "v1", root, vars)).status).toBe(403);
    expect((await pushTag("mirror-team/app", "v1", corp, vars)).status).toBe(201);
  });
});
