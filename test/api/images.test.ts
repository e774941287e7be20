// GET /api/v1/images with docker image ls --filter terms, and /api/v1/repositories?pattern=&details=1.
import { describe, expect, it } from "vitest";
import { call } from "../helpers";
import type { ImageEntry } from "../../src/api/images";
import { parseImageFilters } from "../../src/api/image-filters";
import { apiError, pushPlatformImage } from "./fixtures";

const amd64 = { os: "linux", architecture: "amd64" };

async function images(query: string): Promise<{ images: ImageEntry[]; next: string | null }> {
  const response = await call("GET", `/api/v1/images?${query}`);
  if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
  return (await response.json()) as { images: ImageEntry[]; next: string | null };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("parseImageFilters", () => {
  it.each([
    ["reference=team/*:v1*", { name: "team/app", tag: "v1.2", match: true }],
    ["reference=team/*:v1*", { name: "team/app/sub", tag: "v1.2", match: false }],
    ["reference=team/**:v1*", { name: "team/app/sub", tag: "v1.2", match: true }],
    ["reference=team/*", { name: "team/app", tag: "anything", match: true }],
    ["reference=127.0.0.1/x:v1", { name: "127.0.0.1/x", tag: "v1", match: true }],
  ])("%s against %o", (term, { name, tag, match }) => {
    const filters = parseImageFilters([term]);
    expect(filters.repository(name) && filters.tag(tag)).toBe(match);
  });

  it.each([
    ["dangling", /key=value/],
    ["dangling=maybe", /true or false/],
    ["label=a", /unknown filter "label"/],
    ["before=team/app", /<repository>:<tag>/],
    ["since=2024-13-45", /ISO 8601/],
    [`reference=${"*/".repeat(10)}x`, /wildcards/],
  ])("refuses %s", (term, message) => {
    expect(() => parseImageFilters([term])).toThrow(message);
  });
});

describe("GET /api/v1/images", () => {
  it("filters by reference, dangling, before and since", async () => {
    await pushPlatformImage("imgls/app", "v1.0", amd64, "imgls v1.0");
    await sleep(20);
    await pushPlatformImage("imgls/app", "v2.0", amd64, "imgls v2.0");
    await sleep(20);
    await pushPlatformImage("imgls/tool", "v1.5", amd64, "imgls tool");
    const moved = await pushPlatformImage("imgls/app", "latest", amd64, "imgls old latest");
    await pushPlatformImage("imgls/app", "latest", amd64, "imgls new latest");

    const v1 = await images("filter=reference=imgls/*:v1*");
    expect(v1.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(["imgls/app:v1.0", "imgls/tool:v1.5"]);
    expect(v1.images[0]).toMatchObject({ kind: "hosted", mediaType: "application/vnd.oci.image.manifest.v1+json" });

    const dangling = await images("filter=dangling=true&filter=reference=imgls/**");
    expect(dangling.images).toEqual([expect.objectContaining({ repository: "imgls/app", tag: null, digest: moved.digest })]);

    const before = await images("filter=reference=imgls/**&filter=before=imgls/app:v2.0");
    expect(before.images.map((i) => i.tag)).toEqual(["v1.0"]);
    const since = await images("filter=reference=imgls/**:v*&filter=since=imgls/app:v2.0");
    expect(since.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(["imgls/tool:v1.5"]);
  });

  it("pages by repository with next and a Link header", async () => {
    for (const name of ["imgpage/a", "imgpage/b", "imgpage/c"]) await pushPlatformImage(name, "v1", amd64, name);
    const response = await call("GET", "/api/v1/images?filter=reference=imgpage/*&n=2");
    const first = (await response.json()) as { images: ImageEntry[]; next: string | null };
    expect(first.images.map((i) => i.repository)).toEqual(["imgpage/a", "imgpage/b"]);
    expect(first.next).toBe("imgpage/b");
    expect(response.headers.get("Link")).toBe('</api/v1/images?n=2&last=imgpage%2Fb&filter=reference%3Dimgpage%2F*>; rel="next"');
    const rest = await images("filter=reference=imgpage/*&n=2&last=imgpage/b");
    expect(rest).toEqual({ filters: ["reference=imgpage/*"], images: [expect.objectContaining({ repository: "imgpage/c" })], next: null });
  });

  it("pages inside a repository with many tags, reading it in bounded Durable Object pages", async () => {
    const image = await pushPlatformImage("imgmany/app", "t0000", amd64, "imgmany");
    // 1,200 tags (more than one Durable Object page), 100 per PUT.
    for (let first = 1; first < 1200; first += 100) {
      const query = Array.from({ length: Math.min(100, 1200 - first) }, (_, i) => `tag=t${String(first + i).padStart(4, "0")}`).join("&");
      const res = await call("PUT", `/v2/imgmany/app/manifests/${image.digest}?${query}`, { body: image.bytes, headers: { "Content-Type": image.mediaType } });
      expect(res.status).toBe(201);
    }
    await pushPlatformImage("imgmany/other", "v1", amd64, "imgmany other");
    const seen: string[] = [];
    let last: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await images(`filter=reference=imgmany/*&n=500${last === null ? "" : `&last=${encodeURIComponent(last)}`}`);
      expect(page.images.length).toBeLessThanOrEqual(500 + 1000);
      seen.push(...page.images.map((i) => `${i.repository}:${i.tag}`));
      last = page.next;
      if (last === null) break;
    }
    expect(last).toBeNull();
    expect(seen).toHaveLength(1201);
    expect(new Set(seen).size).toBe(1201);
    expect(seen.at(-1)).toBe("imgmany/other:v1");
    // before= finds a tag beyond the first page of tags.
    const before = await images("filter=reference=imgmany/other&filter=since=imgmany/app:t1199");
    expect(before.images.map((i) => i.tag)).toEqual(["v1"]);
  });

  it("answers an unknown before= image with 404 and a bad term with 400", async () => {
    const unknown = await call("GET", "/api/v1/images?filter=before=imgls/none:v9");
    expect(unknown.status).toBe(404);
    expect((await apiError(unknown)).message).toMatch(/imgls\/none:v9 is unknown/);
    const bad = await call("GET", "/api/v1/images?filter=color=red");
    expect(bad.status).toBe(400);
  });
});

describe("GET /api/v1/repositories?pattern=&details=1", () => {
  it("filters names by glob and adds tag counts and the last change", async () => {
    await pushPlatformImage("globbed/one/app", "v1", amd64, "globbed one");
    await pushPlatformImage("globbed/one/app", "v2", amd64, "globbed one v2");
    await pushPlatformImage("globbed/two", "v1", amd64, "globbed two");
    const response = await call("GET", "/api/v1/repositories?pattern=globbed/*/app&details=1");
    const body = (await response.json()) as { repositories: { name: string; tagCount: number; manifestCount: number; updatedAt: string }[] };
    expect(body.repositories).toEqual([
      expect.objectContaining({ name: "globbed/one/app", kind: "hosted", tagCount: 2, manifestCount: 2, updatedAt: expect.stringMatching(/^\d{4}-/) }),
    ]);
  });
});
