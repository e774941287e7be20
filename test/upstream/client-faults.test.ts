// UpstreamClient against faults: redirects (to a CDN that rejects Authorization, to ftp, in a
// loop, to private addresses), upstream statuses, a refused connection, slow headers, slow,
// truncated and corrupt bodies. Each ends in a clear OciError — never a hang, never bad bytes
// delivered as complete.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/http/errors";
import { UpstreamClient, type UpstreamClientOptions } from "../../src/upstream/client";
import type { UpstreamConfig } from "../../src/upstream/config";
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

function client(url: string, overrides: Partial<UpstreamConfig> = {}, options: UpstreamClientOptions = {}) {
  const observer = new RecordingObserver();
  return { observer, client: new UpstreamClient(upstreamAt(url, overrides), { tokenCache: new MemoryTokenCache(), observer, ...options }) };
}

describe("blob redirects", () => {
  const small = () => peers().images.single.layers[1]!;
  const big = () => peers().images.single.layers[0]!;

  it("follows a 307 to another origin without the Authorization header", async () => {
    const { client: c, observer } = client(peers().basic, { credentials: peers().credentials });
    const log = await RequestLog.mark();
    const response = await c.getBlob("cdn/seed/single", big().digest);
    expect(response.headers.get("content-length")).toBe(String(big().size));
    expect(await sha256Hex(response.body!)).toEqual(big());
    expect(await log.summary()).toEqual([
      "basic GET /v2/cdn/seed/single/blobs/<digest>",
      "basic GET /v2/cdn/seed/single/blobs/<digest> [Basic]",
      "cdn GET /blobs/seed/single/<digest>",
    ]);
    expect(observer.requests).toEqual(["get-blob", "get-blob", "get-blob"]);
    expect(observer.bytes).toEqual([big().size]);
  });

  it("HEAD of a redirected blob follows the redirect too", async () => {
    const { client: c } = client(peers().basic, { credentials: peers().credentials });
    const log = await RequestLog.mark();
    expect(await c.headBlob("cdn/seed/single", big().digest)).toEqual(big());
    expect((await log.summary()).slice(-2)).toEqual(["basic HEAD /v2/cdn/seed/single/blobs/<digest> [Basic]", "cdn HEAD /blobs/seed/single/<digest>"]);
  });

  it("keeps the Authorization header on a same-origin (relative) redirect", async () => {
    const { client: c } = client(peers().basic, { credentials: peers().credentials });
    const log = await RequestLog.mark();
    const response = await c.getBlob("same-origin-redirect/seed/single", small().digest);
    expect(await sha256Hex(response.body!)).toEqual(small());
    expect((await log.summary()).slice(-1)).toEqual(["basic GET /__blob/seed/single/blobs/<digest> [Basic]"]);
  });

  it("refuses a redirect to a private address unless the upstream allows private addresses", async () => {
    const { client: c, observer } = client(peers().basic, { credentials: peers().credentials, allowPrivateAddresses: false });
    const log = await RequestLog.mark();
    const error = await rejection(c.getBlob("cdn/seed/single", small().digest));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect(error.message).toMatch(/refused redirect for blob sha256:[0-9a-f]+ of cdn\/seed\/single: it points to a private or loopback address: 127\.0\.0\.1/);
    expect((await log.entries()).filter((e) => e.server === "cdn")).toEqual([]);
    expect(observer.errors).toEqual([error.message]);
  });

  it("refuses a redirect to ftp://", async () => {
    const { client: c } = client(peers().open);
    const error = await rejection(c.getBlob("redirect-ftp/seed/single", small().digest));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect(error.message).toMatch(/uses ftp: \(only http and https are followed\)/);
  });

  it("gives up on a redirect loop", async () => {
    const { client: c, observer } = client(peers().open, {}, { maxRedirects: 3 });
    const error = await rejection(c.getBlob("redirect-loop/seed/single", small().digest));
    expect(error.message).toMatch(/too many redirects/);
    expect(observer.requests).toHaveLength(4);
  });
});

describe("upstream errors", () => {
  const small = () => peers().images.single.layers[1]!;

  it("404 → MANIFEST_UNKNOWN / BLOB_UNKNOWN, not reported as upstream errors", async () => {
    const { client: c, observer } = client(peers().open);
    const missingDigest = `sha256:${"ab".repeat(32)}`;
    expect(await rejection(c.getManifest("seed/single", "nope"))).toMatchObject({ code: "MANIFEST_UNKNOWN", status: 404 });
    expect(await rejection(c.headManifest("seed/single", "nope"))).toMatchObject({ code: "MANIFEST_UNKNOWN", status: 404 });
    const blob = await rejection(c.getBlob("seed/single", missingDigest));
    expect(blob).toMatchObject({ code: "BLOB_UNKNOWN", status: 404 });
    expect(blob.message).toContain("blob unknown to registry");
    expect(await rejection(c.getManifest("no/such-repo", "v1"))).toMatchObject({ code: "MANIFEST_UNKNOWN" });
    expect(observer.errors).toEqual([]);
  });

  it("429 → TOOMANYREQUESTS with Retry-After, rate-limit figures recorded", async () => {
    const { client: c, observer } = client(peers().open);
    const error = await rejection(c.getManifest("status-429/seed/single", "v1"));
    expect(error).toMatchObject({ code: "TOOMANYREQUESTS", status: 429, headers: { "Retry-After": "17" } });
    expect(error.message).toContain("injected 429 by the test proxy");
    expect(observer.rateLimits).toEqual([[100, 0, 21600]]);
    const head = await rejection(c.headManifest("status-429/seed/single", "v1"));
    expect(head).toMatchObject({ code: "TOOMANYREQUESTS", headers: { "Retry-After": "17" } });
    expect(observer.errors).toHaveLength(2);
  });

  it.each<[number, number, Record<string, string>]>([
    [500, 502, {}],
    [502, 502, {}],
    [503, 503, { "Retry-After": "5" }],
  ])("%d → UPSTREAM_UNAVAILABLE %d with a message", async (status, clientStatus, headers) => {
    const { client: c, observer } = client(peers().open);
    const error = await rejection(c.getBlob(`status-${status}/seed/single`, small().digest));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: clientStatus, headers });
    expect(error.message).toMatch(new RegExp(`upstream peer .*${status}.*injected ${status} by the test proxy`));
    expect(observer.errors).toEqual([error.message]);
  });

  it.each([401, 403])("%d without a challenge → DENIED with the upstream's words", async (status) => {
    const { client: c } = client(peers().open);
    const error = await rejection(c.getManifest(`status-${status}/seed/single`, "v1"));
    expect(error).toMatchObject({ code: "DENIED", status: 403 });
    expect(error.message).toContain(`injected ${status} by the test proxy`);
  });

  it("connection refused → UPSTREAM_UNAVAILABLE 502", async () => {
    const { client: c, observer } = client(peers().refused);
    const error = await rejection(c.headManifest("seed/single", "v1"));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect(error.message).toMatch(/upstream peer unreachable for manifest seed\/single:v1/);
    expect(observer.errors).toEqual([error.message]);
  });

  it("headers that never come → 504 after the configured timeout, not a hang", async () => {
    const { client: c } = client(peers().open, {}, { headersTimeoutMs: 300 });
    const started = Date.now();
    const error = await rejection(c.getManifest("slow-headers/seed/single", "v1"));
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 504 });
    expect(error.message).toBe("upstream peer did not answer within 0.3 s for manifest slow-headers/seed/single:v1");
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5_000);
  });

  it("the default headers timeout comes from the upstream's timeoutSeconds", async () => {
    const { client: c } = client(peers().open, { timeoutSeconds: 0.4 });
    const error = await rejection(c.headManifest("slow-headers/seed/single", "v1"));
    expect(error).toMatchObject({ status: 504 });
    expect(error.message).toContain("within 0.4 s");
  });
});

describe("bodies that cannot be trusted", () => {
  const big = () => peers().images.single.layers[0]!;

  async function readFailure(response: Response): Promise<unknown> {
    try {
      await sha256Hex(response.body!);
    } catch (error) {
      return error;
    }
    throw new Error("expected the body to fail");
  }

  it("a body that stalls fails after the idle timeout", async () => {
    const { client: c, observer } = client(peers().open, {}, { bodyIdleTimeoutMs: 300 });
    const response = await c.getBlob("slow-body/seed/single", big().digest);
    expect(response.status).toBe(200);
    const started = Date.now();
    const error = await readFailure(response);
    expect(Date.now() - started).toBeLessThan(5_000);
    // Through the known-length stream the consumer sees an Error carrying the OciError's message.
    expect(String(error)).toContain("no data for 0.3 s");
    expect(observer.errors).toHaveLength(1);
    expect(observer.errors[0]).toMatch(/blob sha256:[0-9a-f]+ of slow-body\/seed\/single: no data for 0.3 s/);
    expect(observer.bytes).toEqual([1024]);
  });

  it("a truncated body fails instead of ending", async () => {
    const { client: c, observer } = client(peers().open);
    const response = await c.getBlob("truncated/seed/single", big().digest);
    expect(String(await readFailure(response))).toMatch(/upstream peer: blob sha256:[0-9a-f]+ of truncated\/seed\/single/);
    expect(observer.errors).toHaveLength(1);
    expect(observer.errors[0]).toMatch(/connection broke after \d+ bytes|body ended after \d+ of \d+ bytes/);
  });

  it("a blob with the wrong bytes fails before its last chunk", async () => {
    const { client: c, observer } = client(peers().open);
    const response = await c.getBlob("corrupt/seed/single", big().digest);
    const reader = response.body!.getReader();
    let received = 0;
    let failure: unknown;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
      }
    } catch (error) {
      failure = error;
    }
    expect(String(failure)).toContain("content has digest");
    expect(received).toBeLessThan(big().size);
    expect(observer.errors[0]).toMatch(/content has digest sha256:[0-9a-f]{64}, expected sha256:/);
  });

  it("a manifest with the wrong bytes is refused, by tag (Docker-Content-Digest) and by digest", async () => {
    const { single } = peers().images;
    const { client: c } = client(peers().open);
    const byTag = await rejection(c.getManifest("corrupt/seed/single", "v1"));
    expect(byTag).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect(byTag.message).toContain(`expected ${single.digest}`);
    const byDigest = await rejection(c.getManifest("corrupt/seed/single", single.digest));
    expect(byDigest.message).toContain(`expected ${single.digest}`);
  });

  it("a truncated manifest is refused", async () => {
    const { client: c } = client(peers().open);
    const error = await rejection(c.getManifest("truncated/seed/single", "v1"));
    expect(error).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
  });

  it("without Docker-Content-Digest: GET computes the digest, HEAD falls back to one GET", async () => {
    const { single } = peers().images;
    const { client: c, observer } = client(peers().open);
    expect((await c.getManifest("no-digest/seed/single", "v1")).digest).toBe(single.digest);
    const log = await RequestLog.mark();
    expect(await c.headManifest("no-digest/seed/single", "v1")).toEqual({ digest: single.digest, mediaType: single.mediaType, size: single.size });
    expect(await log.summary("seed/single")).toEqual(["open HEAD /v2/no-digest/seed/single/manifests/v1", "open GET /v2/no-digest/seed/single/manifests/v1"]);
    expect(observer.requests).toEqual(["get-manifest", "head-manifest", "get-manifest"]);
  });
});
