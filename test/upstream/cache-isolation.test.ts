// Repository isolation through the pull-through cache, in workerd against the real open
// docker-registry peer (as the upstream "peer.test"): a blob stored for one repository must not
// be readable, probable or mountable through a cached repository whose own upstream repository
// never vouched for it — whether the name is prefixed (/v2/peer.test/…), selected with ?ns=, or
// un-prefixed in mirror mode. What the upstream really has is still shared without refetching.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handle } from "../../src/http/router";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { repositoryStub } from "../../src/registry/repository-do";
import { BASE, call, errorCode, pushBlob, randomBytes, sha256 } from "../helpers";
import { RequestLog, peers } from "./peers";

/** The Worker with peer.test as its only upstream (and the default one in mirror mode). */
function cacheEnv(mirrorMode: boolean): Env {
  const upstreams = [{ name: "peer.test", url: peers().open, allowPrivateAddresses: true, tagTtlSeconds: 3600 }];
  return { ...env, UPSTREAMS: JSON.stringify(upstreams), DEFAULT_UPSTREAM: "peer.test", MIRROR_MODE: String(mirrorMode) } as unknown as Env;
}

async function send(method: string, path: string, options: { mirrorMode?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await handle(new Request(new URL(path, BASE), { method, headers: options.headers, redirect: "manual" }), cacheEnv(options.mirrorMode ?? false), ctx);
  const body = new Uint8Array(await response.arrayBuffer());
  await waitOnExecutionContext(ctx);
  return new Response(method === "HEAD" || response.status === 304 ? null : body, response);
}

/** Repositories the blob index links the blob to. */
async function linkedTo(digest: string): Promise<string[]> {
  return (await blobIndexStub(env, digest).describe())?.repositories ?? [];
}

describe("a blob pushed only to a hosted repository", () => {
  it("is neither read nor probed through a cached repository path, ?ns= or mirror mode; nothing is linked", async () => {
    const secret = await pushBlob("iso/private", randomBytes(2048, 801));
    const probes: Array<[string, string, { mirrorMode?: boolean }]> = [
      ["prefixed", `/v2/peer.test/iso/anything/blobs/${secret.digest}`, {}],
      ["?ns=", `/v2/iso/other/blobs/${secret.digest}?ns=peer.test`, {}],
      ["mirror mode", `/v2/iso/mirrored/blobs/${secret.digest}`, { mirrorMode: true }],
    ];
    for (const [label, path, options] of probes) {
      const log = await RequestLog.mark();
      for (const method of ["GET", "HEAD"]) {
        const response = await send(method, path, options);
        expect(response.status, `${method} ${label}`).toBe(404);
        if (method === "GET") expect(await errorCode(response), label).toBe("BLOB_UNKNOWN");
      }
      // The upstream was asked (a HEAD: the copy exists here, only the upstream's word is missing);
      // mirror mode answers a blob HEAD for the hosted repository alone.
      const upstreamRepo = path.split("/").slice(label === "prefixed" ? 3 : 2, -2).join("/");
      const expected = [`open HEAD /v2/${upstreamRepo}/blobs/<digest>`];
      expect(await log.summary(), label).toEqual(label === "mirror mode" ? expected : [...expected, ...expected]);
    }
    // The answer reads the same as for a blob stored nowhere: existence elsewhere does not show.
    const absent = await sha256("never pushed anywhere");
    for (const method of ["GET", "HEAD"]) {
      const [stored, nowhere] = await Promise.all(
        [secret.digest, absent].map(async (digest) => {
          const response = await send(method, `/v2/peer.test/iso/anything/blobs/${digest}`);
          return { status: response.status, headers: [...response.headers].filter(([name]) => name !== "content-length"), body: (await response.text()).replace(digest, "<digest>") };
        }),
      );
      expect(stored, method).toEqual(nowhere);
    }
    expect(await linkedTo(secret.digest)).toEqual(["iso/private"]);
    for (const name of ["peer.test/iso/anything", "peer.test/iso/other", "peer.test/iso/mirrored"]) {
      expect(await repositoryStub(env, name).statBlob(secret.digest), name).toBeNull();
    }
    const usage = await send("GET", "/api/v1/repositories/peer.test/iso/anything/usage");
    expect(usage.status, "the cached repository holds nothing: no usage to show").toBe(404);
    expect(await errorCode(usage)).toBe("NAME_UNKNOWN");
  });

  it("cannot be mounted from a cached repository or a hosted one that does not hold it: 202, an upload, nothing revealed", async () => {
    const secret = await pushBlob("iso/mount-private", randomBytes(1500, 802));
    expect((await send("GET", `/v2/peer.test/iso/bait/blobs/${secret.digest}`)).status).toBe(404);
    for (const from of ["peer.test/iso/bait", "iso/empty", "iso/mount-thief"]) {
      const response = await call("POST", `/v2/iso/mount-thief/blobs/uploads/?mount=${secret.digest}&from=${from}`);
      expect(response.status, from).toBe(202);
      expect(response.headers.get("Location"), from).toMatch(/^\/v2\/iso\/mount-thief\/blobs\/uploads\//);
      expect((await call("HEAD", `/v2/iso/mount-thief/blobs/${secret.digest}`)).status, from).toBe(404);
    }
    expect(await linkedTo(secret.digest)).toEqual(["iso/mount-private"]);
    // The owner's own repositories still mount it.
    const own = await call("POST", `/v2/iso/mount-copy/blobs/uploads/?mount=${secret.digest}&from=iso/mount-private`);
    expect(own.status).toBe(201);
  });
});

describe("blobs the upstream really has", () => {
  it("a layer stored for one cached repository serves another after the upstream answers a HEAD; a cached manifest vouches without any request", async () => {
    const { single } = peers().images;
    const layer = single.layers[1]!;
    const first = await send("GET", `/v2/peer.test/seed/single/blobs/${layer.digest}`);
    expect(first.status).toBe(200);

    // library/alpine holds the same layers upstream: confirmed by a HEAD, not fetched again.
    let log = await RequestLog.mark();
    const second = await send("GET", `/v2/peer.test/library/alpine/blobs/${layer.digest}`);
    expect(second.status).toBe(200);
    expect(second.headers.get("Content-Length")).toBe(String(layer.size));
    expect(await log.summary()).toEqual([`open HEAD /v2/library/alpine/blobs/<digest>`]);
    expect(await linkedTo(layer.digest)).toEqual(expect.arrayContaining(["peer.test/seed/single", "peer.test/library/alpine"]));

    // public/single: its cached manifest names the layer, so no blob request at all.
    expect((await send("GET", "/v2/peer.test/public/single/manifests/v1", { headers: { Accept: single.mediaType } })).status).toBe(200);
    log = await RequestLog.mark();
    const third = await send("HEAD", `/v2/peer.test/public/single/blobs/${layer.digest}`);
    expect(third.status).toBe(200);
    expect(third.headers.get("Content-Length")).toBe(String(layer.size));
    expect(await log.summary()).toEqual([]);
  });

  it("concurrent cold GETs in one cached repository make one upstream GET, and the waiting requests need no confirmation", async () => {
    const arm = peers().images.multi.manifests[1]!;
    const layer = arm.layers[arm.layers.length - 1]!;
    const log = await RequestLog.mark();
    const responses = await Promise.all(Array.from({ length: 4 }, () => send("GET", `/v2/peer.test/seed/multi/blobs/${layer.digest}`)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await log.summary("seed/multi")).toEqual([`open GET /v2/seed/multi/blobs/<digest>`]);
  });
});
