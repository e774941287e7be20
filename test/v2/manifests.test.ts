import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, errorCode, pushBlob, pushImage, sha256 } from "../helpers";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function put(name: string, reference: string, body: string | Uint8Array, contentType = OCI_MANIFEST): Promise<Response> {
  return call("PUT", `/v2/${name}/manifests/${reference}`, { body, headers: { "Content-Type": contentType } });
}

describe("manifests", () => {
  it("are served byte-for-byte with media type, digest, length and ETag, by tag and by digest", async () => {
    const image = await pushImage("man/basic", "v1", ["a"]);
    for (const reference of ["v1", image.digest]) {
      const res = await call("GET", `/v2/man/basic/manifests/${reference}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toBe(OCI_MANIFEST);
      expect(res.headers.get("Docker-Content-Digest")).toBe(image.digest);
      expect(res.headers.get("Content-Length")).toBe(String(image.bytes.length));
      expect(res.headers.get("ETag")).toBe(`"${image.digest}"`);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(image.bytes);
      const head = await call("HEAD", `/v2/man/basic/manifests/${reference}`);
      expect(head.status).toBe(200);
      expect(head.headers.get("Docker-Content-Digest")).toBe(image.digest);
      expect(head.headers.get("Content-Length")).toBe(String(image.bytes.length));
    }
    const cached = await call("GET", "/v2/man/basic/manifests/v1", { headers: { "If-None-Match": `"${image.digest}"` } });
    expect(cached.status).toBe(304);
  });

  it("keeps whitespace and key order exactly (the digest is of the pushed bytes)", async () => {
    const config = await pushBlob("man/exact", "{}");
    const text = `{\n  "schemaVersion": 2,\n   "config": {"size": ${config.size}, "digest": "${config.digest}", "mediaType": "application/vnd.oci.image.config.v1+json"},\n "layers": []\n}\n`;
    const res = await put("man/exact", "t", text);
    expect(res.status).toBe(201);
    expect(res.headers.get("Docker-Content-Digest")).toBe(await sha256(text));
    expect(await (await call("GET", "/v2/man/exact/manifests/t")).text()).toBe(text);
  });

  it("accepts OCI manifests without a top-level mediaType", async () => {
    const config = await pushBlob("man/nomedia", "{}");
    const body = JSON.stringify({ schemaVersion: 2, config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers: [] });
    const res = await put("man/nomedia", "latest", body);
    expect(res.status).toBe(201);
    expect((await call("GET", "/v2/man/nomedia/manifests/latest")).headers.get("Content-Type")).toBe(OCI_MANIFEST);
  });

  it("pushing by digest checks the digest and applies ?tag= parameters", async () => {
    const config = await pushBlob("man/bydigest", "{}");
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers: [] });
    const digest = await sha256(body);
    const res = await call("PUT", `/v2/man/bydigest/manifests/${digest}?tag=one&tag=two`, { body, headers: { "Content-Type": OCI_MANIFEST } });
    expect(res.status).toBe(201);
    expect(res.headers.get("Location")).toBe(`/v2/man/bydigest/manifests/${digest}`);
    const tags = (await (await call("GET", "/v2/man/bydigest/tags/list")).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["one", "two"]);
    const wrong = await put("man/bydigest", await sha256("other"), body);
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe("DIGEST_INVALID");
  });

  it.each([
    ["not json", "{", OCI_MANIFEST, "MANIFEST_INVALID"],
    ["an array", "[]", OCI_MANIFEST, "MANIFEST_INVALID"],
    ["no layers", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: `sha256:${"a".repeat(64)}`, size: 1 } }), OCI_MANIFEST, "MANIFEST_INVALID"],
    ["media type disagrees with Content-Type", JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST, "MANIFEST_INVALID"],
    ["schemaVersion 1", JSON.stringify({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }), "application/vnd.docker.distribution.manifest.v1+json", "MANIFEST_INVALID"],
    ["bad digest in a layer", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: "sha256:zz", size: 1 }, layers: [] }), OCI_MANIFEST, "MANIFEST_INVALID"],
    ["unknown config blob", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: `sha256:${"b".repeat(64)}`, size: 1 }, layers: [] }), OCI_MANIFEST, "MANIFEST_BLOB_UNKNOWN"],
    ["unknown child manifest", JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${"c".repeat(64)}`, size: 10 }] }), OCI_INDEX, "MANIFEST_BLOB_UNKNOWN"],
  ])("rejects %s", async (_label, body, contentType, code) => {
    const res = await put("man/invalid", "t", body, contentType);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe(code);
    expect((await call("GET", "/v2/man/invalid/manifests/t")).status).toBe(404);
  });

  it("answers 413 for a manifest above the size limit", async () => {
    const big = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: "x".repeat(4 * 1024 * 1024 + 10) } });
    const res = await put("man/huge", "t", big);
    expect(res.status).toBe(413);
  });

  it("stores manifests larger than one SQLite value (2 MB) intact", async () => {
    const config = await pushBlob("man/large", "{}");
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers: [], annotations: { pad: "y".repeat(3 * 1024 * 1024) } });
    expect((await put("man/large", "t", body)).status).toBe(201);
    const res = await call("GET", "/v2/man/large/manifests/t");
    expect(await sha256(new Uint8Array(await res.arrayBuffer()))).toBe(await sha256(body));
  });

  it.each([
    ["an invalid tag", "/v2/man/x/manifests/-bad", 400, "TAG_INVALID"],
    ["an invalid digest", "/v2/man/x/manifests/sha256:nothex", 400, "DIGEST_INVALID"],
    ["an invalid name", "/v2/Man/X/manifests/latest", 400, "NAME_INVALID"],
    ["an unknown tag", "/v2/man/x/manifests/nope", 404, "MANIFEST_UNKNOWN"],
    ["an unknown digest", `/v2/man/x/manifests/sha256:${"d".repeat(64)}`, 404, "MANIFEST_UNKNOWN"],
  ])("GET with %s → %i %s", async (_label, path, status, code) => {
    const res = await call("GET", path);
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
  });

  it("multi-arch index: children must exist; served with the index media type", async () => {
    const amd = await pushImage("man/multi", "amd", ["amd layer"]);
    const arm = await pushImage("man/multi", "arm", ["arm layer"]);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.bytes.length, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.bytes.length, platform: { os: "linux", architecture: "arm64" } },
      ],
    });
    const res = await put("man/multi", "latest", index, OCI_INDEX);
    expect(res.status).toBe(201);
    const got = await call("GET", "/v2/man/multi/manifests/latest");
    expect(got.headers.get("Content-Type")).toBe(OCI_INDEX);
    expect(await got.text()).toBe(index);
    // A child of a tagged index cannot be deleted out from under it.
    const del = await call("DELETE", `/v2/man/multi/manifests/${arm.digest}`);
    expect(del.status).toBe(409);
    expect((await call("GET", `/v2/man/multi/manifests/${arm.digest}`)).status).toBe(200);
  });

  it("refuses a descriptor whose size is not the stored blob's or child manifest's, naming it", async () => {
    const image = await pushImage("man/sizes", "v1", ["layer bytes"]);
    const config = { mediaType: "application/vnd.oci.image.config.v1+json", ...image.config };
    const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...image.layers[0]! };
    for (const [body, wrong] of [
      [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, size: layer.size + 1 }] }, layer],
      [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, size: 1 }, layers: [layer] }, config],
    ] as const) {
      const res = await put("man/sizes", "bad", JSON.stringify(body));
      expect(res.status).toBe(400);
      const error = ((await res.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
      expect(error.code).toBe("MANIFEST_INVALID");
      expect(error.message).toContain(wrong.digest);
      expect(error.message).toContain(`is ${wrong.size} bytes`);
    }
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length - 1, platform: { os: "linux", architecture: "amd64" } }] };
    const res = await put("man/sizes", "bad", JSON.stringify(index), OCI_INDEX);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toContain(image.digest);
    expect((await call("GET", "/v2/man/sizes/manifests/bad")).status).toBe(404);
  });

  it("refuses manifests Go clients would read differently (case variants, duplicate keys, BOM) and deep nesting", async () => {
    const image = await pushImage("man/strict", "v1", ["strict layer"]);
    const config = { mediaType: "application/vnd.oci.image.config.v1+json", ...image.config };
    const other = await pushBlob("man/strict", "another config");
    const plain = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] });
    const bodies = [
      // The JSON API would read `config`; docker and skopeo would pull `Config`.
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, Config: { ...config, ...other }, layers: [] }),
      plain.replace('"layers":[]', `"layers":[],"config":${JSON.stringify({ ...config, ...other })}`),
      `\ufeff${plain}`,
      plain.replace('"layers":[]', `"layers":[],"x":${"[".repeat(5000)}${"]".repeat(5000)}`),
    ];
    for (const body of bodies) {
      const res = await put("man/strict", "bad", body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe("MANIFEST_INVALID");
    }
    expect((await call("GET", "/v2/man/strict/manifests/bad")).status).toBe(404);
    expect((await put("man/strict", "good", plain)).status).toBe(201);
  });

  it("sets at most 100 tags per PUT and keeps a repository within 100,000 tags", async () => {
    const image = await pushImage("man/tag-limits", "v1", ["x"]);
    const query = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `tag=${prefix}${i}`).join("&");
    const tooMany = await call("PUT", `/v2/man/tag-limits/manifests/${image.digest}?${query(101, "t")}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
    expect(tooMany.status).toBe(400);
    expect(await errorCode(tooMany)).toBe("TAG_INVALID");
    expect((await call("PUT", `/v2/man/tag-limits/manifests/${image.digest}?${query(100, "t")}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201);

    // Fill the repository to the limit directly: 100,000 pushes would take too long here.
    const stub = env.REPOSITORY.get(env.REPOSITORY.idFromName("man/tag-limits"));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99898)
         INSERT INTO tags (tag, digest, updated_at) SELECT 'filler' || i, ?, 0 FROM n`,
        image.digest,
      );
    });
    // 101 + 99,899 = 100,000 tags: moving an existing tag still works, a new one does not.
    expect((await put("man/tag-limits", "t5", image.bytes)).status).toBe(201);
    const full = await put("man/tag-limits", "one-more", image.bytes);
    expect(full.status).toBe(403);
    const error = ((await full.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
    expect(error.code).toBe("DENIED");
    expect(error.message).toContain("at most 100000");
    expect((await call("DELETE", "/v2/man/tag-limits/manifests/t5")).status).toBe(202);
    expect((await put("man/tag-limits", "one-more", image.bytes)).status).toBe(201);
  });

  it("deleting by tag untags; deleting by digest removes the manifest and all its tags", async () => {
    const image = await pushImage("man/del", "a", ["l"]);
    await call("PUT", `/v2/man/del/manifests/b`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
    expect((await call("DELETE", "/v2/man/del/manifests/a")).status).toBe(202);
    expect((await call("GET", "/v2/man/del/manifests/a")).status).toBe(404);
    expect((await call("GET", `/v2/man/del/manifests/${image.digest}`)).status).toBe(200);
    expect((await call("DELETE", `/v2/man/del/manifests/${image.digest}`)).status).toBe(202);
    expect((await call("GET", "/v2/man/del/manifests/b")).status).toBe(404);
    expect((await call("GET", `/v2/man/del/manifests/${image.digest}`)).status).toBe(404);
    const again = await call("DELETE", `/v2/man/del/manifests/${image.digest}`);
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe("MANIFEST_UNKNOWN");
  });

  it("a layer still used by a manifest cannot be deleted from the repository", async () => {
    const image = await pushImage("man/inuse", "v1", ["used layer"]);
    const res = await call("DELETE", `/v2/man/inuse/blobs/${image.layers[0]!.digest}`);
    expect(res.status).toBe(409);
    await call("DELETE", `/v2/man/inuse/manifests/${image.digest}`);
    expect((await call("DELETE", `/v2/man/inuse/blobs/${image.layers[0]!.digest}`)).status).toBe(202);
  });
});

describe("conditional manifest and blob requests (If-None-Match, RFC 9110)", () => {
  it.each(["GET", "HEAD"])("%s: a matching entity tag (strong, weak, in a list, or *) answers 304; another answers 200", async (method) => {
    const image = await pushImage("man/conditional", "v1", ["conditional layer"]);
    const layer = image.layers[0]!;
    for (const [path, etag, length] of [
      ["/v2/man/conditional/manifests/v1", `"${image.digest}"`, image.bytes.length],
      [`/v2/man/conditional/manifests/${image.digest}`, `"${image.digest}"`, image.bytes.length],
      [`/v2/man/conditional/blobs/${layer.digest}`, `"${layer.digest}"`, layer.size],
    ] as const) {
      for (const header of [etag, `W/${etag}`, `"other", ${etag}`, `W/"other",W/${etag}`, "*"]) {
        const response = await call(method, path, { headers: { "If-None-Match": header, Range: "bytes=0-0" } });
        expect(response.status, `${method} ${path} If-None-Match: ${header}`).toBe(304);
        expect(response.headers.get("ETag")).toBe(etag);
        expect(response.headers.get("Docker-Content-Digest")).toBe(etag.slice(1, -1));
        expect(await response.text()).toBe("");
      }
      for (const header of ['"other"', etag.slice(1, -1), `"${etag}`]) {
        const response = await call(method, path, { headers: { "If-None-Match": header } });
        expect(response.status, `${method} ${path} If-None-Match: ${header}`).toBe(200);
        expect(response.headers.get("Content-Length")).toBe(String(length));
        await response.arrayBuffer();
      }
    }
  });

  it("a 304 needs the content to be there: * on an unknown manifest or blob is 404", async () => {
    await pushImage("man/conditional-missing", "v1", ["present"]);
    const missing = await sha256("not pushed");
    for (const path of ["/v2/man/conditional-missing/manifests/v2", `/v2/man/conditional-missing/blobs/${missing}`]) {
      const response = await call("GET", path, { headers: { "If-None-Match": "*" } });
      expect(response.status, path).toBe(404);
    }
  });
});
