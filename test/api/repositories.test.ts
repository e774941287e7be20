import { describe, expect, it } from "vitest";
import { call, pushImage } from "../helpers";
import type { TagEntry } from "../../src/api/repositories";
import { OCI_INDEX, OCI_MANIFEST, apiError, pushMultiArch, pushPlatformImage } from "./fixtures";

interface RepositoriesAnswer {
  repositories: { name: string; kind: string; tags: string }[];
  next: string | null;
}

interface TagsAnswer {
  repository: string;
  kind: string;
  filter: { pattern: string | null; dangling: boolean };
  tags: TagEntry[];
  next: string | null;
}

async function json<T>(path: string): Promise<{ body: T; response: Response }> {
  const response = await call("GET", path);
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return { body: (await response.json()) as T, response };
}

describe("GET /api/v1/repositories", () => {
  it("lists hosted repositories by prefix, with n, last and a Link header", async () => {
    for (const name of ["repos/a", "repos/b", "repos/c", "other/d"]) await pushImage(name, "v1", [name]);
    const { body: all } = await json<RepositoriesAnswer>("/api/v1/repositories?prefix=repos/");
    expect(all).toEqual({
      repositories: [
        { name: "repos/a", kind: "hosted", tags: "/api/v1/repositories/repos/a/tags" },
        { name: "repos/b", kind: "hosted", tags: "/api/v1/repositories/repos/b/tags" },
        { name: "repos/c", kind: "hosted", tags: "/api/v1/repositories/repos/c/tags" },
      ],
      next: null,
    });
    const { body: page, response } = await json<RepositoriesAnswer>("/api/v1/repositories?prefix=repos/&n=2");
    expect(page.repositories.map((r) => r.name)).toEqual(["repos/a", "repos/b"]);
    expect(page.next).toBe("repos/b");
    expect(response.headers.get("Link")).toBe('</api/v1/repositories?n=2&last=repos%2Fb&prefix=repos%2F>; rel="next"');
    const { body: rest } = await json<RepositoriesAnswer>("/api/v1/repositories?prefix=repos/&n=2&last=repos/b");
    expect(rest).toMatchObject({ repositories: [{ name: "repos/c" }], next: null });
    const { body: everything } = await json<RepositoriesAnswer>("/api/v1/repositories");
    expect(everything.repositories.map((r) => r.name)).toEqual(expect.arrayContaining(["other/d", "repos/a"]));
  });

  it("rejects a bad page size", async () => {
    const response = await call("GET", "/api/v1/repositories?n=ten");
    expect(response.status).toBe(400);
    expect((await apiError(response)).code).toBe("SIZE_INVALID");
  });
});

describe("GET /api/v1/repositories/<name>/tags", () => {
  it("lists tags with digest, media type, platforms, size and update time", async () => {
    const before = Date.now();
    const single = await pushImage("tags/mixed", "single", ["aaaa", "bbbbbb"]);
    const multi = await pushMultiArch("tags/mixed", "multi");
    const arm = await pushPlatformImage("tags/mixed", "arm", { os: "linux", architecture: "arm", variant: "v7" }, "arm only");
    const { body } = await json<TagsAnswer>("/api/v1/repositories/tags/mixed/tags");
    expect(body.repository).toBe("tags/mixed");
    expect(body.kind).toBe("hosted");
    expect(body.next).toBeNull();
    expect(body.tags.map((t) => t.tag)).toEqual(["arm", "multi", "single"]);
    const [armTag, multiTag, singleTag] = body.tags;
    expect(singleTag).toMatchObject({
      tag: "single",
      digest: single.digest,
      mediaType: OCI_MANIFEST,
      manifestSize: single.bytes.length,
      isIndex: false,
      platforms: ["linux/amd64"],
      size: single.config.size + 4 + 6,
      attestations: 0,
    });
    expect(armTag).toMatchObject({ digest: arm.digest, platforms: ["linux/arm/v7"] });
    // The children's configs and layers (attestations included), each distinct blob once.
    const children = [multi.amd64, multi.arm64, multi.armv7];
    const childBytes = children.reduce((sum, c) => sum + c.config.size + c.layers.reduce((s, l) => s + l.size, 0), 0);
    expect(multiTag).toMatchObject({
      digest: multi.index.digest,
      mediaType: OCI_INDEX,
      isIndex: true,
      platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"],
      attestations: 2,
    });
    expect(multiTag!.size).toBeGreaterThan(childBytes);
    const updated = Date.parse(singleTag!.updatedAt);
    expect(updated).toBeGreaterThanOrEqual(before - 1000);
    expect(updated).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("counts a layer shared by several platforms once", async () => {
    const shared = "shared base layer";
    const a = await pushPlatformImage("tags/shared", undefined, { os: "linux", architecture: "amd64" }, "sa", { layers: [shared, "own a"] });
    const b = await pushPlatformImage("tags/shared", undefined, { os: "linux", architecture: "arm64" }, "sb", { layers: [shared, "own b"] });
    const { entryOf, pushIndex } = await import("./fixtures");
    await pushIndex("tags/shared", "v1", [entryOf(a), entryOf(b)]);
    const { body } = await json<TagsAnswer>("/api/v1/repositories/tags/shared/tags");
    expect(body.tags[0]!.size).toBe(a.config.size + b.config.size + shared.length + "own a".length + "own b".length);
  });

  it("filters tags with a glob pattern and pages through them", async () => {
    const image = await pushImage("tags/glob", "v1.0", ["x"]);
    for (const tag of ["v1.1", "v2.0", "latest", "v1.10-rc"]) {
      await call("PUT", `/v2/tags/glob/manifests/${tag}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
    }
    const names = async (query: string) => (await json<TagsAnswer>(`/api/v1/repositories/tags/glob/tags?${query}`)).body.tags.map((t) => t.tag);
    expect(await names("pattern=v1.*")).toEqual(["v1.0", "v1.1", "v1.10-rc"]);
    expect(await names("pattern=v1.?")).toEqual(["v1.0", "v1.1"]);
    expect(await names("pattern=v[2-9]*")).toEqual(["v2.0"]);
    expect(await names("pattern=*[!0-9]")).toEqual(["latest", "v1.10-rc"]);
    expect(await names("pattern=nothing")).toEqual([]);

    const first = await json<TagsAnswer>("/api/v1/repositories/tags/glob/tags?pattern=v*&n=2");
    expect(first.body.tags.map((t) => t.tag)).toEqual(["v1.0", "v1.1"]);
    expect(first.body.next).toBe("v1.1");
    expect(first.response.headers.get("Link")).toBe('</api/v1/repositories/tags/glob/tags?n=2&last=v1.1&pattern=v*>; rel="next"');
    const second = await json<TagsAnswer>("/api/v1/repositories/tags/glob/tags?pattern=v*&n=2&last=v1.1");
    expect(second.body.tags.map((t) => t.tag)).toEqual(["v1.10-rc", "v2.0"]);
    expect(second.body.next).toBeNull();
  });

  it("caps the page at 100 tags", async () => {
    const image = await pushImage("tags/many", "t000", ["x"]);
    for (let i = 1; i < 105; i++) {
      await call("PUT", `/v2/tags/many/manifests/t${String(i).padStart(3, "0")}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
    }
    const { body } = await json<TagsAnswer>("/api/v1/repositories/tags/many/tags?n=500");
    expect(body.tags).toHaveLength(100);
    expect(body.next).toBe("t099");
    const { body: defaults } = await json<TagsAnswer>("/api/v1/repositories/tags/many/tags");
    expect(defaults.tags).toHaveLength(50);
  });

  it("lists dangling manifests: untagged and not part of an index", async () => {
    const old = await pushImage("tags/dangling", "v1", ["old"]);
    await pushImage("tags/dangling", "v1", ["new"]); // v1 moves: the old image dangles
    const multi = await pushMultiArch("tags/dangling", "multi"); // children are referenced by the index
    const { body } = await json<TagsAnswer>("/api/v1/repositories/tags/dangling/tags?dangling=1");
    expect(body.filter).toEqual({ pattern: null, dangling: true });
    expect(body.tags.map((t) => t.digest)).toEqual([old.digest]);
    expect(body.tags[0]).toMatchObject({ tag: null, platforms: ["linux/amd64"], isIndex: false });
    expect(multi.index.digest).toBeDefined();
    const { body: tagged } = await json<TagsAnswer>("/api/v1/repositories/tags/dangling/tags?dangling=0");
    expect(tagged.tags.map((t) => t.tag)).toEqual(["multi", "v1"]);
  });

  it("pages a pattern through more tags than one Durable Object call returns", async () => {
    const image = await pushImage("tags/thousands", "a0000", ["x"]);
    // 1,100 tags, 100 per PUT (the most one PUT sets); the pattern matches only the last ones.
    for (let first = 1; first < 1100; first += 100) {
      const query = Array.from({ length: Math.min(100, 1100 - first) }, (_, i) => `tag=a${String(first + i).padStart(4, "0")}`).join("&");
      const res = await call("PUT", `/v2/tags/thousands/manifests/${image.digest}?${query}`, { body: image.bytes, headers: { "Content-Type": OCI_MANIFEST } });
      expect(res.status).toBe(201);
    }
    const first = await json<TagsAnswer>("/api/v1/repositories/tags/thousands/tags?pattern=a109*&n=6");
    expect(first.body.tags.map((t) => t.tag)).toEqual(["a1090", "a1091", "a1092", "a1093", "a1094", "a1095"]);
    expect(first.body.next).toBe("a1095");
    const rest = await json<TagsAnswer>("/api/v1/repositories/tags/thousands/tags?pattern=a109*&n=6&last=a1095");
    expect(rest.body.tags.map((t) => t.tag)).toEqual(["a1096", "a1097", "a1098", "a1099"]);
    expect(rest.body.next).toBeNull();
  });

  it("pages dangling manifests with the cursor it hands out", async () => {
    const pushed = [];
    for (const layer of ["d1", "d2", "d3"]) {
      pushed.push((await pushImage("tags/dangling-pages", "moving", [layer])).digest);
    }
    await call("DELETE", "/v2/tags/dangling-pages/manifests/moving"); // untag: all three dangle
    const first = await json<TagsAnswer>("/api/v1/repositories/tags/dangling-pages/tags?dangling=1&n=2");
    expect(first.body.tags.map((t) => t.digest)).toEqual(pushed.slice(0, 2));
    expect(first.body.next).toMatch(/^\d+\.sha256:/);
    const link = first.response.headers.get("Link")!;
    const second = await json<TagsAnswer>(/^<([^>]+)>/.exec(link)![1]!);
    expect(second.body.tags.map((t) => t.digest)).toEqual(pushed.slice(2));
    expect(second.body.next).toBeNull();
    const bad = await call("GET", "/api/v1/repositories/tags/dangling-pages/tags?dangling=1&last=nonsense");
    expect(bad.status).toBe(400);
  });

  it.each([
    ["/api/v1/repositories/tags/none/tags", 404, "NAME_UNKNOWN"],
    ["/api/v1/repositories/Tags/Upper/tags", 400, "NAME_INVALID"],
    ["/api/v1/repositories/tags/errs/tags?pattern=v[1", 400, "TAG_INVALID"],
    ["/api/v1/repositories/tags/errs/tags?dangling=yes", 400, "UNSUPPORTED"],
    ["/api/v1/repositories/tags/errs/tags?dangling=1&pattern=v*", 400, "UNSUPPORTED"],
    ["/api/v1/repositories/tags/errs/tags?n=-1", 400, "SIZE_INVALID"],
    ["/api/v1/repositories/tags/errs", 404, "NAME_UNKNOWN"],
  ])("GET %s → %i %s", async (path, status, code) => {
    await pushImage("tags/errs", "v1", ["x"]);
    const response = await call("GET", path);
    expect(response.status).toBe(status);
    expect((await apiError(response)).code).toBe(code);
  });
});
