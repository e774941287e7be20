// UpstreamClient against docker-registry behind htpasswd (Basic) and behind distribution's token
// auth with a local token server (Bearer): the 401 → credentials/token → retry flow, token
// caching per (upstream, scope), and honest DENIED errors.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/http/errors";
import { UpstreamClient } from "../../src/upstream/client";
import { MemoryTokenCache } from "../../src/upstream/token-cache";
import { RecordingObserver, RequestLog, peers, sha256Hex, upstreamAt } from "./peers";

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OciError);
    return error as OciError;
  }
  throw new Error("expected a rejection");
}

describe("htpasswd (Basic) upstream", () => {
  it("answers the Basic challenge with the configured credentials, then sends them at once", async () => {
    const { single } = peers().images;
    const cache = new MemoryTokenCache();
    const upstream = upstreamAt(peers().basic, { credentials: peers().credentials });
    const observer = new RecordingObserver();
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstream, { tokenCache: cache, observer });
    expect((await client.getManifest("seed/single", "v1")).digest).toBe(single.digest);
    expect(await log.summary("seed/single")).toEqual(["basic GET /v2/seed/single/manifests/v1", "basic GET /v2/seed/single/manifests/v1 [Basic]"]);
    expect(observer.requests).toEqual(["get-manifest", "get-manifest"]);

    // A later client (another request) sharing the cache skips the 401.
    const later = await RequestLog.mark();
    const blob = await new UpstreamClient(upstream, { tokenCache: cache }).getBlob("seed/single", single.layers[1]!.digest);
    expect(await sha256Hex(blob.body!)).toEqual(single.layers[1]);
    expect(await later.summary("seed/single")).toEqual(["basic GET /v2/seed/single/blobs/<digest> [Basic]"]);
  });

  it("without credentials: DENIED with the registry's words", async () => {
    const observer = new RecordingObserver();
    const client = new UpstreamClient(upstreamAt(peers().basic), { tokenCache: new MemoryTokenCache(), observer });
    const error = await rejection(client.getManifest("seed/single", "v1"));
    expect(error).toMatchObject({ code: "DENIED", status: 403 });
    expect(error.message).toMatch(/upstream peer denied manifest seed\/single:v1: authentication required \(UNAUTHORIZED\)/);
    expect(observer.errors).toEqual([error.message]);
  });

  it("with a wrong password: DENIED after one retry", async () => {
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstreamAt(peers().basic, { credentials: { username: "berth", password: "wrong" } }), { tokenCache: new MemoryTokenCache() });
    expect(await rejection(client.headManifest("seed/single", "v1"))).toMatchObject({ code: "DENIED", status: 403 });
    expect(await log.summary("seed/single")).toEqual(["basic HEAD /v2/seed/single/manifests/v1", "basic HEAD /v2/seed/single/manifests/v1 [Basic]"]);
  });
});

describe("token-auth (Bearer) upstream", () => {
  it("fetches a credentialed pull token from the realm, retries once, then reuses the cached token", async () => {
    const { single } = peers().images;
    const cache = new MemoryTokenCache();
    const upstream = upstreamAt(peers().token, { credentials: peers().credentials });
    const observer = new RecordingObserver();
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstream, { tokenCache: cache, observer });
    expect(await client.headManifest("seed/single", "v1")).toEqual({ digest: single.digest, mediaType: single.mediaType, size: single.size });
    expect(await log.summary("seed/single")).toEqual([
      "token HEAD /v2/seed/single/manifests/v1",
      "token-server GET /token [Basic]",
      "token HEAD /v2/seed/single/manifests/v1 [Bearer]",
    ]);
    const tokenRequest = (await log.entries("seed/single")).find((e) => e.server === "token-server")!;
    expect(tokenRequest.scope).toBe("repository:seed/single:pull");
    expect(observer.requests).toEqual(["head-manifest", "token", "head-manifest"]);

    const later = await RequestLog.mark();
    const again = new UpstreamClient(upstream, { tokenCache: cache });
    const big = single.layers[0]!;
    expect(await sha256Hex((await again.getBlob("seed/single", big.digest)).body!)).toEqual(big);
    expect((await again.getManifest("seed/single", single.digest)).digest).toBe(single.digest);
    expect(await later.summary("seed/single")).toEqual([
      "token GET /v2/seed/single/blobs/<digest> [Bearer]",
      "token GET /v2/seed/single/manifests/<digest> [Bearer]",
    ]);
  });

  it("caches per scope: another repository needs its own token", async () => {
    const cache = new MemoryTokenCache();
    const client = new UpstreamClient(upstreamAt(peers().token, { credentials: peers().credentials }), { tokenCache: cache });
    await client.headManifest("seed/single", "v1");
    const log = await RequestLog.mark();
    await client.headManifest("seed/multi", "v1");
    expect(await log.summary("seed/multi")).toEqual([
      "token HEAD /v2/seed/multi/manifests/v1",
      "token-server GET /token [Basic]",
      "token HEAD /v2/seed/multi/manifests/v1 [Bearer]",
    ]);
    expect([...cache.entries.keys()].sort()).toEqual(["peer\nrepository:seed/multi:pull", "peer\nrepository:seed/single:pull"]);
  });

  it("fetches a new token once the cached one expired", async () => {
    let now = Date.now();
    const cache = new MemoryTokenCache(() => now);
    const client = new UpstreamClient(upstreamAt(peers().token, { credentials: peers().credentials }), { tokenCache: cache });
    await client.headManifest("seed/multi", "v1");
    const ttl = (cache.entries.get("peer\nrepository:seed/multi:pull")!.expiresAt - now) / 1000;
    expect(ttl).toBeGreaterThanOrEqual(260); // expires_in 300 minus the margin
    expect(ttl).toBeLessThanOrEqual(270);
    now += ttl * 1000;
    const log = await RequestLog.mark();
    await client.headManifest("seed/multi", "v1");
    expect((await log.summary("seed/multi")).filter((line) => line.startsWith("token-server"))).toHaveLength(1);
  });

  it("replaces a cached token the registry rejects, with one retry", async () => {
    const cache = new MemoryTokenCache();
    await cache.put("peer\nrepository:seed/single:pull", "not-a-jwt", 300);
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstreamAt(peers().token, { credentials: peers().credentials }), { tokenCache: cache });
    expect((await client.getManifest("seed/single", "v1")).digest).toBe(peers().images.single.digest);
    expect(await log.summary("seed/single")).toEqual([
      "token GET /v2/seed/single/manifests/v1 [Bearer]",
      "token-server GET /token [Basic]",
      "token GET /v2/seed/single/manifests/v1 [Bearer]",
    ]);
    expect(await cache.get("peer\nrepository:seed/single:pull")).not.toBe("not-a-jwt");
  });

  it("anonymous: public repositories work with an anonymous token", async () => {
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstreamAt(peers().token), { tokenCache: new MemoryTokenCache() });
    expect((await client.getManifest("public/single", "v1")).digest).toBe(peers().images.single.digest);
    expect(await log.summary("public/single")).toEqual([
      "token GET /v2/public/single/manifests/v1",
      "token-server GET /token",
      "token GET /v2/public/single/manifests/v1 [Bearer]",
    ]);
  });

  it("anonymous on a private repository: DENIED with the registry's words, no loop", async () => {
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstreamAt(peers().token), { tokenCache: new MemoryTokenCache() });
    const error = await rejection(client.getManifest("seed/single", "v1"));
    expect(error).toMatchObject({ code: "DENIED", status: 403 });
    expect(error.message).toContain("authentication required");
    expect(await log.summary("seed/single")).toHaveLength(3);
  });

  it("token server refusing the credentials: DENIED with its words", async () => {
    const client = new UpstreamClient(upstreamAt(peers().token, { credentials: { username: "berth", password: "nope" } }), { tokenCache: new MemoryTokenCache() });
    const error = await rejection(client.getManifest("seed/single", "v1"));
    expect(error).toMatchObject({ code: "DENIED", status: 403 });
    expect(error.message).toMatch(/denied token for repository:seed\/single:pull: incorrect username or password/);
  });

  it("refuses a token realm on a private address unless the upstream allows it", async () => {
    const log = await RequestLog.mark();
    const client = new UpstreamClient(upstreamAt(peers().token, { credentials: peers().credentials, allowPrivateAddresses: false }), { tokenCache: new MemoryTokenCache() });
    const error = await rejection(client.getManifest("seed/single", "v1"));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect(error.message).toMatch(/refused token realm http:\/\/127\.0\.0\.1:\d+\/token: it points to a private or loopback address/);
    expect((await log.summary("seed/single")).filter((line) => line.startsWith("token-server"))).toEqual([]);
  });
});
