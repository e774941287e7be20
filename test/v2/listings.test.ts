import { describe, expect, it } from "vitest";
import { call, errorCode, pushBlob, pushImage, sha256 } from "../helpers";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

describe("tags list", () => {
  it("lists tags in lexical order with n, last and a Link header", async () => {
    const image = await pushImage("list/tags", "b", ["x"]);
    for (const tag of ["a", "C", "c", "a1", "z"]) {
      await call("PUT", `/v2/list/tags/manifests/${tag}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
    }
    const all = (await (await call("GET", "/v2/list/tags/tags/list")).json()) as { name: string; tags: string[] };
    expect(all).toEqual({ name: "list/tags", tags: ["C", "a", "a1", "b", "c", "z"] });

    const first = await call("GET", "/v2/list/tags/tags/list?n=2");
    expect(((await first.json()) as { tags: string[] }).tags).toEqual(["C", "a"]);
    expect(first.headers.get("Link")).toBe('</v2/list/tags/tags/list?n=2&last=a>; rel="next"');

    const next = await call("GET", "/v2/list/tags/tags/list?n=2&last=a");
    expect(((await next.json()) as { tags: string[] }).tags).toEqual(["a1", "b"]);

    const end = await call("GET", "/v2/list/tags/tags/list?n=2&last=c");
    expect(((await end.json()) as { tags: string[] }).tags).toEqual(["z"]);
    expect(end.headers.get("Link")).toBeNull();

    const zero = await call("GET", "/v2/list/tags/tags/list?n=0");
    expect(((await zero.json()) as { tags: string[] }).tags).toEqual([]);
  });

  it.each([
    ["/v2/list/unknown/tags/list", 404, "NAME_UNKNOWN"],
    ["/v2/list/tags/tags/list?n=-1", 400, "SIZE_INVALID"],
    ["/v2/list/tags/tags/list?n=abc", 400, "SIZE_INVALID"],
    ["/v2/UPPER/tags/list", 400, "NAME_INVALID"],
  ])("GET %s → %i %s", async (path, status, code) => {
    await pushImage("list/tags", "b", ["x"]);
    const res = await call("GET", path);
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
  });
});

describe("catalog", () => {
  it("lists repositories with pagination and forgets emptied ones", async () => {
    await pushImage("cat/one", "v", ["1"]);
    const two = await pushImage("cat/two", "v", ["2"]);
    await pushImage("cat/three", "v", ["3"]);
    const all = (await (await call("GET", "/v2/_catalog")).json()) as { repositories: string[] };
    expect(all.repositories).toEqual(expect.arrayContaining(["cat/one", "cat/three", "cat/two"]));
    expect([...all.repositories].sort()).toEqual(all.repositories);

    const page = await call("GET", "/v2/_catalog?n=1&last=cat/one");
    expect(((await page.json()) as { repositories: string[] }).repositories).toEqual(["cat/three"]);
    expect(page.headers.get("Link")).toBe('</v2/_catalog?n=1&last=cat%2Fthree>; rel="next"');

    await call("DELETE", `/v2/cat/two/manifests/${two.digest}`);
    const after = (await (await call("GET", "/v2/_catalog")).json()) as { repositories: string[] };
    expect(after.repositories).not.toContain("cat/two");
  });
});

describe("referrers", () => {
  it("indexes manifests with a subject and filters by artifactType", async () => {
    const image = await pushImage("ref/app", "v1", ["l"]);
    const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length };
    const empty = await pushBlob("ref/app", "{}");
    const sbom = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/spdx+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", ...empty },
      layers: [{ mediaType: "application/vnd.oci.empty.v1+json", ...empty }],
      subject,
      annotations: { "org.example": "sbom" },
    });
    const put = await call("PUT", `/v2/ref/app/manifests/${await sha256(sbom)}`, { body: sbom, headers: { "Content-Type": OCI_MANIFEST } });
    expect(put.status).toBe(201);
    expect(put.headers.get("OCI-Subject")).toBe(image.digest);

    const sig = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.example.signature", ...empty },
      layers: [],
      subject,
    });
    await call("PUT", `/v2/ref/app/manifests/${await sha256(sig)}`, { body: sig, headers: { "Content-Type": OCI_MANIFEST } });

    const res = await call("GET", `/v2/ref/app/referrers/${image.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe(OCI_INDEX);
    const index = (await res.json()) as { manifests: { digest: string; artifactType: string; annotations?: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.artifactType).sort()).toEqual(["application/spdx+json", "application/vnd.example.signature"]);
    expect(index.manifests.find((m) => m.artifactType === "application/spdx+json")?.annotations).toEqual({ "org.example": "sbom" });

    const filtered = await call("GET", `/v2/ref/app/referrers/${image.digest}?artifactType=${encodeURIComponent("application/spdx+json")}`);
    expect(filtered.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);
  });

  it("pages with Link: rel=\"next\" by count and by size, keeping the artifactType filter", async () => {
    const image = await pushImage("ref/paged", "v1", ["l"]);
    const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length };
    const empty = await pushBlob("ref/paged", "{}");
    const pushReferrer = async (i: number, note: string, artifactType = "application/vnd.example.sig") => {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: "application/vnd.oci.empty.v1+json", ...empty },
        layers: [],
        subject,
        annotations: { i: String(i), note },
      });
      const digest = await sha256(body);
      expect((await call("PUT", `/v2/ref/paged/manifests/${digest}`, { body, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201);
      return digest;
    };
    // Three referrers with 1.5 MB of annotations each: more than one 4 MiB page holds.
    const big: string[] = [];
    for (let i = 0; i < 3; i++) big.push(await pushReferrer(i, "x".repeat(1_500_000)));
    const small: string[] = [];
    for (let i = 0; i < 5; i++) small.push(await pushReferrer(i, "small", "application/spdx+json"));

    const follow = async (path: string) => {
      const pages: string[][] = [];
      for (let next: string | null = path; next !== null; ) {
        const res = await call("GET", next);
        expect(res.status).toBe(200);
        pages.push(((await res.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest));
        const link = res.headers.get("Link");
        next = link === null ? null : /^<([^>]+)>; rel="next"$/.exec(link)![1]!;
      }
      return pages;
    };
    const everything = await follow(`/v2/ref/paged/referrers/${image.digest}`);
    // 4 MiB holds two big ones, not three: the big ones end up on two pages.
    expect(everything).toHaveLength(2);
    for (const page of everything) expect(page.filter((d) => big.includes(d)).length).toBeLessThanOrEqual(2);
    expect(everything.flat()).toEqual([...big, ...small].sort());

    const sboms = await follow(`/v2/ref/paged/referrers/${image.digest}?artifactType=${encodeURIComponent("application/spdx+json")}&n=2`);
    expect(sboms.map((page) => page.length)).toEqual([2, 2, 1]);
    expect(sboms.flat()).toEqual([...small].sort());
  });

  it("answers an empty index for an unknown subject and 400 for a bad digest", async () => {
    const res = await call("GET", `/v2/ref/none/referrers/sha256:${"e".repeat(64)}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    const bad = await call("GET", "/v2/ref/none/referrers/sha256:xyz");
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe("DIGEST_INVALID");
  });

  it("accepts a manifest whose subject does not exist yet", async () => {
    const empty = await pushBlob("ref/dangling", "{}");
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.empty.v1+json", ...empty },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: `sha256:${"f".repeat(64)}`, size: 1 },
    });
    const res = await call("PUT", `/v2/ref/dangling/manifests/${await sha256(body)}`, { body, headers: { "Content-Type": OCI_MANIFEST } });
    expect(res.status).toBe(201);
  });
});

describe("ping and unknown routes", () => {
  it("GET /v2/ answers 200 with the API version header", async () => {
    const res = await call("GET", "/v2/");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  });

  it("unknown /v2 paths are OCI errors, not HTML", async () => {
    const res = await call("GET", "/v2/foo/bar/unknown");
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe("NAME_UNKNOWN");
  });
});

describe("JSON API HEAD", () => {
  it("answers HEAD like GET without a body", async () => {
    const get = await call("GET", "/api/v1/repositories");
    const head = await call("HEAD", "/api/v1/repositories");
    expect(head.status).toBe(get.status);
    expect(head.headers.get("Content-Type")).toBe(get.headers.get("Content-Type"));
    expect(await head.text()).toBe("");
    expect((await call("HEAD", "/api/v1/nope")).status).toBe(404);
  });
});
