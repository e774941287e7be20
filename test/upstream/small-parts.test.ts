// Pure pieces of the upstream client: token lifetimes, rate-limit headers, error words,
// the body guard and the token caches.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/http/errors";
import { parseDigest } from "../../src/oci/digest";
import { guardBody } from "../../src/upstream/body";
import { parseRateLimit } from "../../src/upstream/observer";
import { CacheApiTokenCache, MemoryTokenCache } from "../../src/upstream/token-cache";
import { basicAuthorization, pullScope, tokenTtlSeconds } from "../../src/upstream/token-source";
import { errorFromResponse, upstreamWords } from "../../src/upstream/upstream-error";

describe("tokenTtlSeconds", () => {
  const now = Date.parse("2026-05-01T12:00:00Z");
  it.each<[string, Record<string, unknown>, number]>([
    ["Docker Hub 300 s, just issued", { expires_in: 300, issued_at: "2026-05-01T12:00:00Z" }, 270],
    ["no expires_in: 60 s default", {}, 54],
    ["issued 100 s ago", { expires_in: 300, issued_at: "2026-05-01T11:58:20Z" }, 170],
    ["issued in the future (our clock behind): expires_in alone", { expires_in: 300, issued_at: "2026-05-01T12:05:00Z" }, 270],
    ["already expired", { expires_in: 60, issued_at: "2026-05-01T11:00:00Z" }, 0],
    ["long-lived token: margin capped at 30 s", { expires_in: 3600 }, 3570],
    ["tiny lifetime", { expires_in: 1 }, 0],
    ["expires_in as string is ignored", { expires_in: "300" }, 54],
    ["negative expires_in is ignored", { expires_in: -5 }, 54],
    ["unparseable issued_at is ignored", { expires_in: 120, issued_at: "yesterday" }, 108],
  ])("%s → %d", (_name, body, expected) => {
    expect(tokenTtlSeconds(body, now)).toBe(expected);
  });

  it("pull scope and Basic header", () => {
    expect(pullScope("library/nginx")).toBe("repository:library/nginx:pull");
    expect(basicAuthorization("berth", "berth-pass")).toBe(`Basic ${btoa("berth:berth-pass")}`);
    expect(basicAuthorization("ü", "p")).toBe("Basic w7w6cA==");
  });
});

describe("parseRateLimit", () => {
  it.each<[string, Record<string, string>, ReturnType<typeof parseRateLimit>]>([
    ["Docker Hub form", { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600" }, { limit: 100, remaining: 76, windowSeconds: 21600 }],
    ["plain numbers", { "RateLimit-Limit": "200", "RateLimit-Remaining": "0" }, { limit: 200, remaining: 0 }],
    ["spaces", { "ratelimit-limit": " 100 ; w = 60", "ratelimit-remaining": "1" }, { limit: 100, remaining: 1, windowSeconds: 60 }],
    ["only one header", { "ratelimit-limit": "100;w=21600" }, undefined],
    ["garbage", { "ratelimit-limit": "lots", "ratelimit-remaining": "some" }, undefined],
    ["none", {}, undefined],
  ])("%s", (_name, headers, expected) => {
    expect(parseRateLimit(new Headers(headers))).toEqual(expected);
  });
});

describe("upstream error words and mapping", () => {
  it.each<[string, string, number, string]>([
    ["OCI error list", '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}', 404, "manifest unknown (MANIFEST_UNKNOWN)"],
    ["two OCI errors", '{"errors":[{"code":"DENIED","message":"no"},{"code":"UNAUTHORIZED"}]}', 401, "no (DENIED); UNAUTHORIZED"],
    ["Docker token server", '{"details":"incorrect username or password"}', 401, "incorrect username or password"],
    ["OAuth style", '{"error":"invalid_grant","error_description":"bad token"}', 400, "bad token"],
    ["plain text", "  too many\n requests  ", 429, "too many requests"],
    ["HTML page is not quoted", "<html><body>Bad Gateway</body></html>", 502, "HTTP 502"],
    ["empty body", "", 503, "HTTP 503"],
  ])("%s", (_name, body, status, expected) => {
    expect(upstreamWords(body, status)).toBe(expected);
  });

  it("clips long bodies", () => {
    expect(upstreamWords("x".repeat(1000), 500)).toHaveLength(301);
  });

  it.each<[number, Record<string, string>, string, number, Record<string, string>]>([
    [404, {}, "MANIFEST_UNKNOWN", 404, {}],
    [401, {}, "DENIED", 403, {}],
    [403, {}, "DENIED", 403, {}],
    [429, { "Retry-After": "17" }, "TOOMANYREQUESTS", 429, { "Retry-After": "17" }],
    [500, {}, "UPSTREAM_UNAVAILABLE", 502, {}],
    [502, {}, "UPSTREAM_UNAVAILABLE", 502, {}],
    [503, { "Retry-After": "5" }, "UPSTREAM_UNAVAILABLE", 503, { "Retry-After": "5" }],
    [400, {}, "UPSTREAM_UNAVAILABLE", 502, {}],
  ])("status %d → %s", async (status, headers, code, clientStatus, clientHeaders) => {
    const response = new Response('{"errors":[{"code":"X","message":"upstream says so"}]}', { status, headers });
    const error = await errorFromResponse(response, { upstream: "peer", what: "manifest a:b", notFound: "MANIFEST_UNKNOWN" });
    expect(error.code).toBe(code);
    expect(error.status).toBe(clientStatus);
    expect(error.headers).toEqual(clientHeaders);
    expect(error.message).toContain("upstream says so (X)");
    expect(error.message).toContain("peer");
  });

  it("a 404 from a token endpoint is not MANIFEST_UNKNOWN", async () => {
    const error = await errorFromResponse(new Response("nope", { status: 404 }), { upstream: "peer", what: "token" });
    expect(error.code).toBe("UPSTREAM_UNAVAILABLE");
  });
});

describe("guardBody", () => {
  const bytes = new TextEncoder().encode("hello, upstream");
  const sha = parseDigest("sha256:" + "0".repeat(64));

  function streamOf(chunks: Uint8Array[], opts: { error?: Error; stallAfter?: boolean } = {}): ReadableStream<Uint8Array> {
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < chunks.length) {
          controller.enqueue(chunks[i++]!);
          return;
        }
        if (opts.error) controller.error(opts.error);
        else if (opts.stallAfter) return new Promise(() => {});
        else controller.close();
      },
    });
  }

  async function digestOf(data: Uint8Array): Promise<string> {
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    return "sha256:" + [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function read(stream: ReadableStream<Uint8Array>): Promise<{ text?: string; error?: OciError }> {
    try {
      return { text: await new Response(stream).text() };
    } catch (error) {
      return { error: error as OciError };
    }
  }

  it("passes verified bytes and reports the count", async () => {
    const ends: Array<[number, OciError | undefined]> = [];
    const digest = parseDigest(await digestOf(bytes));
    const out = guardBody(streamOf([bytes.subarray(0, 5), bytes.subarray(5)]), {
      upstream: "peer",
      what: "blob",
      idleTimeoutMs: 1000,
      expectedLength: bytes.length,
      digest,
      onEnd: (n, e) => ends.push([n, e]),
    });
    expect((await read(out)).text).toBe("hello, upstream");
    expect(ends).toEqual([[bytes.length, undefined]]);
  });

  it.each<[string, () => ReadableStream<Uint8Array>, { expectedLength?: number; digest?: boolean }, RegExp, number]>([
    ["short body", () => streamOf([bytes.subarray(0, 4)]), { expectedLength: bytes.length }, /ended after 4 of 15 bytes/, 502],
    ["long body", () => streamOf([bytes, bytes]), { expectedLength: bytes.length }, /longer than its Content-Length 15/, 502],
    ["wrong bytes", () => streamOf([bytes]), { digest: true }, /content has digest sha256:[0-9a-f]{64}, expected sha256:0000/, 502],
    ["connection broke", () => streamOf([bytes.subarray(0, 3)], { error: new Error("reset") }), {}, /connection broke after 3 bytes \(reset\)/, 502],
    ["stalled", () => streamOf([bytes.subarray(0, 3)], { stallAfter: true }), {}, /no data for 0.1 s/, 504],
  ])("%s → stream error", async (_name, make, opts, message, status) => {
    const ends: Array<[number, OciError | undefined]> = [];
    const out = guardBody(make(), {
      upstream: "peer",
      what: "blob x",
      idleTimeoutMs: 100,
      ...(opts.expectedLength !== undefined ? { expectedLength: opts.expectedLength } : {}),
      ...(opts.digest ? { digest: sha } : {}),
      onEnd: (n, e) => ends.push([n, e]),
    });
    const { error } = await read(out);
    expect(error).toBeInstanceOf(OciError);
    expect(error!.message).toMatch(message);
    expect(error!.status).toBe(status);
    expect(ends).toHaveLength(1);
    expect(ends[0]![1]).toBe(error);
  });

  it("holds back the last chunk until the digest matched", async () => {
    const reader = guardBody(streamOf([bytes.subarray(0, 5), bytes.subarray(5)]), { upstream: "p", what: "b", idleTimeoutMs: 1000, digest: sha }).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("hello");
    await expect(reader.read()).rejects.toThrow(/content has digest/);
  });
});

describe("token caches", () => {
  it("MemoryTokenCache expires entries", async () => {
    let now = 1_000_000;
    const cache = new MemoryTokenCache(() => now);
    await cache.put("k", "v", 10);
    expect(await cache.get("k")).toBe("v");
    now += 9_999;
    expect(await cache.get("k")).toBe("v");
    now += 1;
    expect(await cache.get("k")).toBeUndefined();
  });

  it("CacheApiTokenCache stores in caches.default under a synthetic key", async () => {
    const cache = new CacheApiTokenCache(caches.default, "https://berth.internal/test-tokens/");
    const key = `peer\nrepository:a/b:pull ${crypto.randomUUID()}`;
    expect(await cache.get(key)).toBeUndefined();
    await cache.put(key, "tok-1", 60);
    expect(await cache.get(key)).toBe("tok-1");
    const raw = await caches.default.match(`https://berth.internal/test-tokens/${encodeURIComponent(key)}`);
    expect(raw?.headers.get("cache-control")).toBe("max-age=60");
    await cache.put(key, "tok-2", 60);
    expect(await cache.get(key)).toBe("tok-2");
  });
});
