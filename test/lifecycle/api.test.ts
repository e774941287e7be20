// GET /api/v1/repositories/<name>/history and /usage; admin endpoint errors.

import { describe, expect, it } from "vitest";
import { call, errorCode, pushImage } from "../helpers";
import { passGraceWindows } from "./helpers";

interface Move {
  tag: string;
  action: string;
  previousDigest: string | null;
  newDigest: string | null;
  at: string;
  actor: string | null;
}

async function history(path: string): Promise<{ repository: string; tag: string | null; history: Move[] }> {
  const response = await call("GET", path);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { repository: string; tag: string | null; history: Move[] };
}

describe("tag history", () => {
  it("records every tag move newest first, filters by tag and limits with n", async () => {
    const one = await pushImage("hist/app", "v1", ["history one"]);
    const two = await pushImage("hist/app", "v1", ["history two"]); // moves v1
    await pushImage("hist/app", "stable", ["history one"]);
    expect((await call("DELETE", "/v2/hist/app/manifests/v1")).status).toBe(202);

    const all = await history("/api/v1/repositories/hist/app/history");
    expect(all.repository).toBe("hist/app");
    expect(all.history.map((m) => [m.tag, m.action, m.previousDigest, m.newDigest, m.actor])).toEqual([
      ["v1", "removed", two.digest, null, null],
      ["stable", "created", null, one.digest, null],
      ["v1", "moved", one.digest, two.digest, null],
      ["v1", "created", null, one.digest, null],
    ]);
    expect(Number.isNaN(Date.parse(all.history[0]!.at))).toBe(false);

    const v1 = await history("/api/v1/repositories/hist/app/history?tag=v1");
    expect(v1.tag).toBe("v1");
    expect(v1.history.map((m) => m.action)).toEqual(["removed", "moved", "created"]);
    expect((await history("/api/v1/repositories/hist/app/history?n=1")).history).toHaveLength(1);
    expect((await history("/api/v1/repositories/hist/app/history?tag=never")).history).toEqual([]);
  });

  it("deleting a manifest by digest records the removal of each of its tags", async () => {
    const image = await pushImage("hist/del", "a", ["history delete"]);
    await pushImage("hist/del", "b", ["history delete"]);
    expect((await call("DELETE", `/v2/hist/del/manifests/${image.digest}`)).status).toBe(202);
    const moves = (await history("/api/v1/repositories/hist/del/history")).history;
    expect(moves.filter((m) => m.action === "removed").map((m) => m.tag).sort()).toEqual(["a", "b"]);
  });

  it("answers 404 for an unknown repository and 400 for a bad tag or count", async () => {
    const unknown = await call("GET", "/api/v1/repositories/hist/nothing/history");
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe("NAME_UNKNOWN");
    expect((await call("GET", "/api/v1/repositories/hist/app/history?tag=bad%20tag")).status).toBe(400);
    expect((await call("GET", "/api/v1/repositories/hist/app/history?n=x")).status).toBe(400);
  });
});

interface Usage {
  name: string;
  manifests: number;
  blobs: number;
  blobBytes: number;
  uniqueBytes: number;
  sharedBytes: number;
  sharedBlobs: number;
  unreferencedBytes: number;
  computedAt: string;
}

async function usage(name: string, fresh = true): Promise<Usage> {
  const response = await call("GET", `/api/v1/repositories/${name}/usage${fresh ? "?fresh=1" : ""}`);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Usage;
}

describe("storage usage", () => {
  it("splits bytes into unique and shared with other repositories, and follows deletions", async () => {
    const shared = "usage shared layer ".repeat(100);
    const a = await pushImage("usage/a", "v1", [shared, "usage a only"]);
    const b = await pushImage("usage/b", "v1", [shared, "usage b only"]);
    const sharedSize = a.layers[0]!.size;
    const aTotal = a.config.size + a.layers.reduce((n, l) => n + l.size, 0);

    const first = await usage("usage/a");
    expect(first).toMatchObject({ name: "usage/a", manifests: 1, blobs: 3, blobBytes: aTotal, sharedBytes: sharedSize, sharedBlobs: 1, uniqueBytes: aTotal - sharedSize, unreferencedBytes: 0 });

    // Cached figures are served until they age out; fresh=1 recomputes.
    expect((await usage("usage/a", false)).computedAt).toBe(first.computedAt);

    expect((await call("DELETE", `/v2/usage/b/manifests/${b.digest}`)).status).toBe(202);
    expect((await usage("usage/b")).unreferencedBytes).toBe(b.config.size + b.layers.reduce((n, l) => n + l.size, 0));
    await passGraceWindows();
    expect(await usage("usage/a")).toMatchObject({ sharedBytes: 0, uniqueBytes: aTotal });
    expect((await call("GET", "/api/v1/repositories/usage/b/usage?fresh=1")).status).toBe(404);
    expect((await call("GET", "/api/v1/repositories/usage/never/usage")).status).toBe(404);
  });
});

describe("admin endpoints", () => {
  it("reject a bad cursor or flag with 400 and a GET with 404", async () => {
    expect((await call("POST", "/api/v1/admin/fsck?cursor=nonsense")).status).toBe(400);
    expect((await call("POST", "/api/v1/admin/fsck?repair=maybe")).status).toBe(400);
    expect((await call("POST", "/api/v1/admin/retention?dryRun=yes")).status).toBe(400);
    expect((await call("GET", "/api/v1/admin/fsck")).status).toBe(404);
  });
});
