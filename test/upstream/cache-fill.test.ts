// Cache fills owned by the blob's BlobIndexDO (src/registry/fill-jobs.ts), in workerd against the
// real open docker-registry behind its logging/fault front: a fill goes on after its client hung
// up, serves any number of clients from one upstream GET, resumes a broken body with a Range
// request from a segment boundary, and gives up after FILL_RETRIES (2 in vitest.config.ts) attempts
// in a row without progress, leaving nothing behind.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handle } from "../../src/http/router";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { repositoryStub } from "../../src/registry/repository-do";
import { readObject } from "../../src/registry/object-reader";
import { SEGMENT_BYTES } from "../../src/registry/segmented-object";
import { BASE, sha256 } from "../helpers";
import { RequestLog, peers, sha256Hex } from "./peers";

const LAYER_BYTES = 20 * 1024 * 1024 + 12345;

function cacheEnv(): Env {
  const upstreams = [{ name: "peer.test", url: peers().open, allowPrivateAddresses: true, tagTtlSeconds: 3600 }];
  return { ...env, UPSTREAMS: JSON.stringify(upstreams), DEFAULT_UPSTREAM: "peer.test" } as unknown as Env;
}

async function send(method: string, path: string, headers: Record<string, string> = {}): Promise<{ response: Response; ctx: ExecutionContext }> {
  const ctx = createExecutionContext();
  const response = await handle(new Request(new URL(path, BASE), { method, headers }), cacheEnv(), ctx);
  return { response, ctx };
}

/** A fresh random layer pushed straight to the registry (not through the front), as `fill/<label>-<random>`. */
async function upstreamLayer(label: string): Promise<{ repo: string; digest: string; hex: string; bytes: Uint8Array }> {
  const repo = `fill/${label}-${crypto.randomUUID().slice(0, 8)}`;
  const bytes = new Uint8Array(LAYER_BYTES);
  for (let at = 0; at < bytes.length; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(at + 65536, bytes.length)));
  const digest = await sha256(bytes);
  const direct = peers().direct.open;
  const started = await fetch(`${direct}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(started.status).toBe(202);
  const location = new URL(started.headers.get("Location")!, direct);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: bytes, headers: { "Content-Type": "application/octet-stream" } });
  expect(put.status).toBe(201);
  return { repo, digest, hex: digest.slice("sha256:".length), bytes };
}

async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function setFault(repo: string, mode: string, options: Record<string, string> = {}): Promise<void> {
  const url = new URL("/__fault", peers().open);
  for (const [name, value] of Object.entries({ repo, mode, match: "blobs", ...options })) url.searchParams.set(name, value);
  const response = await fetch(url, { method: "POST" });
  expect(response.status).toBe(200);
}

async function clearFault(repo: string): Promise<void> {
  await fetch(new URL(`/__fault?repo=${encodeURIComponent(repo)}`, peers().open), { method: "DELETE" });
}

/** Blob GETs at the upstream for `repo`: the Range header of each ("" for none). */
async function blobGets(log: RequestLog, repo: string): Promise<string[]> {
  return (await log.entries(repo)).filter((e) => e.method === "GET" && e.path.includes("/blobs/")).map((e) => e.range ?? "");
}

async function fillObjects(hex: string): Promise<string[]> {
  return (await env.BLOBS.list({ prefix: `fills/${hex}/` })).objects.map((o) => o.key);
}

describe("cache fills run in the blob index, not in the request", () => {
  it("a fill completes although the client cancels its body at once; the stored bytes are exact and linked", async () => {
    const layer = await upstreamLayer("cancel");
    const log = await RequestLog.mark();
    const { response, ctx } = await send("GET", `/v2/peer.test/${layer.repo}/blobs/${layer.digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Length")).toBe(String(LAYER_BYTES));
    await response.body!.cancel();
    await waitOnExecutionContext(ctx);

    const stored = await until("the blob to be stored", () => blobIndexStub(env, layer.digest).locate(layer.digest));
    // The fill's segments are the stored blob: every byte was written to R2 once.
    expect(stored.key).toMatch(new RegExp(`^fills/${layer.hex}/[0-9a-f-]+/$`));
    expect((await fillObjects(layer.hex)).map((key) => key.slice(stored.key.length))).toEqual(["0", "1", "2"]);
    expect(await sha256Hex((await readObject(env.BLOBS, stored.key, stored.size, undefined))!)).toEqual({ digest: layer.digest, size: LAYER_BYTES });
    expect(await blobGets(log, layer.repo)).toEqual([""]);
    expect(await repositoryStub(env, `peer.test/${layer.repo}`).statBlob(layer.digest)).toMatchObject({ size: LAYER_BYTES });
    expect((await blobIndexStub(env, layer.digest).describe())?.pins).toBe(0);

    // Served from R2 now: no upstream request.
    const again = await send("GET", `/v2/peer.test/${layer.repo}/blobs/${layer.digest}`);
    expect(await sha256Hex(again.response.body!)).toEqual({ digest: layer.digest, size: LAYER_BYTES });
    await waitOnExecutionContext(again.ctx);
    expect(await blobGets(log, layer.repo)).toEqual([""]);
  });

  it("three concurrent cold GETs and a Range GET make one upstream GET; every body is exact", async () => {
    const layer = await upstreamLayer("three");
    const log = await RequestLog.mark();
    // A slow network, so that the followers really stream while the fill runs.
    await setFault(layer.repo, "trickle", { rate: String(8 * 1024 * 1024) });
    try {
      const path = `/v2/peer.test/${layer.repo}/blobs/${layer.digest}`;
      const bodies = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const { response, ctx } = await send("GET", path);
          expect(response.status).toBe(200);
          const read = await sha256Hex(response.body!);
          await waitOnExecutionContext(ctx);
          return read;
        }),
      );
      expect(bodies).toEqual(Array.from({ length: 3 }, () => ({ digest: layer.digest, size: LAYER_BYTES })));
      const start = SEGMENT_BYTES - 100;
      const { response, ctx } = await send("GET", path, { Range: `bytes=${start}-${start + 999}` });
      expect(response.status).toBe(206);
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(layer.bytes.subarray(start, start + 1000));
      await waitOnExecutionContext(ctx);
      expect(await blobGets(log, layer.repo)).toEqual([""]);
    } finally {
      await clearFault(layer.repo);
    }
  });

  it("a body broken mid-way resumes with a Range request from a segment boundary and stores exact bytes", async () => {
    const layer = await upstreamLayer("resume");
    // The first GET sends half the body (10 MiB: one whole segment) and then closes the connection.
    await setFault(layer.repo, "truncated", { times: "1" });
    const log = await RequestLog.mark();
    try {
      const { response, ctx } = await send("GET", `/v2/peer.test/${layer.repo}/blobs/${layer.digest}`);
      expect(response.status).toBe(200);
      // The client is served across the break: the fill retries while it waits.
      expect(await sha256Hex(response.body!)).toEqual({ digest: layer.digest, size: LAYER_BYTES });
      await waitOnExecutionContext(ctx);
    } finally {
      await clearFault(layer.repo);
    }
    expect(await blobGets(log, layer.repo)).toEqual(["", `bytes=${SEGMENT_BYTES}-`]);
    const stored = await until("the blob to be stored", () => blobIndexStub(env, layer.digest).locate(layer.digest));
    expect(await sha256Hex((await readObject(env.BLOBS, stored.key, stored.size, undefined))!)).toEqual({ digest: layer.digest, size: LAYER_BYTES });
  });

  it("an upstream that keeps breaking: bounded attempts, a clean error, nothing stored, the pin released", async () => {
    const layer = await upstreamLayer("broken");
    await setFault(layer.repo, "truncated");
    const log = await RequestLog.mark();
    try {
      const { response, ctx } = await send("GET", `/v2/peer.test/${layer.repo}/blobs/${layer.digest}`);
      expect(response.status).toBe(200);
      await expect(response.arrayBuffer()).rejects.toThrow();
      await waitOnExecutionContext(ctx);
      // The first attempt stores one segment (10 of 20 MiB) and breaks; the FILL_RETRIES (2) retries
      // from that segment's end bring no new segment (6 of 12 MiB each), and the fill gives up.
      expect(await blobGets(log, layer.repo)).toEqual(["", `bytes=${SEGMENT_BYTES}-`, `bytes=${SEGMENT_BYTES}-`]);

      // A client that asks now hears the failure (a new fill, whose first attempt fails alike).
      const index = blobIndexStub(env, layer.digest);
      expect(await index.locate(layer.digest)).toBeNull();
      expect(await fillObjects(layer.hex)).toEqual([]);
      expect((await env.BLOBS.list({ prefix: `blobs/sha256/${layer.hex.slice(0, 2)}/${layer.hex}` })).objects).toEqual([]);
      expect((await index.describe())?.pins ?? 0).toBe(0);
      expect(await repositoryStub(env, `peer.test/${layer.repo}`).statBlob(layer.digest)).toBeNull();
    } finally {
      await clearFault(layer.repo);
    }
  });
});
