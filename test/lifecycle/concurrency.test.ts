// Many parallel pushes, deletes, mounts and pulls of images that share layers
// across several repositories. Afterwards every remaining tag pulls
// completely, fsck reports zero problems, and once the grace windows pass the
// bucket holds exactly the blobs the remaining manifests reference.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, pushBlob, sha256 } from "../helpers";
import { bucketKeys, contentKeyOf, fsck, passGraceWindows, pullCompletely } from "./helpers";

const REPOSITORIES = ["conc/r0", "conc/r1", "conc/r2", "conc/team/r3"];
const BASES = ["conc base alpine", "conc base debian", "conc base runtime", "conc base tools"].map((b) => b.repeat(40));

/** Deterministic choices. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

interface Image {
  repository: string;
  tag: string;
  digest: string;
  blobs: string[];
}

/** A push as a client does it: mount what another repository has, upload the rest, PUT the manifest last. */
async function push(repository: string, tag: string, layers: string[], mountFrom?: string): Promise<Image> {
  const blobs: { digest: string; size: number }[] = [];
  for (const layer of layers) {
    const data = new TextEncoder().encode(layer);
    const digest = await sha256(data);
    if (mountFrom) {
      const mount = await call("POST", `/v2/${repository}/blobs/uploads/?mount=${digest}&from=${mountFrom}`);
      if (mount.status === 201) {
        blobs.push({ digest, size: data.length });
        continue;
      }
      expect(mount.status).toBe(202); // not there (any more): fall back to an upload
      await call("DELETE", mount.headers.get("Location")!);
    }
    blobs.push(await pushBlob(repository, data));
  }
  const config = await pushBlob(repository, JSON.stringify({ architecture: "amd64", os: "linux", tag: `${repository}:${tag}` }));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: blobs.map((b) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...b })),
  });
  const response = await call("PUT", `/v2/${repository}/manifests/${tag}`, { body, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
  expect(response.status, await response.clone().text()).toBe(201);
  return { repository, tag, digest: await sha256(body), blobs: [config.digest, ...blobs.map((b) => b.digest)] };
}

describe("concurrency", () => {
  it("parallel pushes, deletes, mounts and pulls across repositories leave a consistent registry", async () => {
    const next = random(20261126);
    const pick = <T,>(items: T[]): T => items[Math.floor(next() * items.length)]!;
    const layersFor = (label: string): string[] => {
      const layers = [pick(BASES)];
      if (next() < 0.5) layers.push(pick(BASES));
      layers.push(`conc unique ${label}`);
      return [...new Set(layers)];
    };

    // Seed: three images per repository.
    const seeded: Image[] = [];
    for (const repository of REPOSITORIES) {
      for (let i = 0; i < 3; i++) seeded.push(await push(repository, `seed-${i}`, layersFor(`${repository} seed ${i}`)));
    }

    // Half the seeds get deleted while new images (sharing the same bases) are pushed and others pulled.
    const doomed = seeded.filter((_, i) => i % 2 === 0);
    const kept = seeded.filter((_, i) => i % 2 === 1);
    const pushed: Image[] = [];
    const operations: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const roll = next();
      const repository = pick(REPOSITORIES);
      if (roll < 0.45) {
        const from = next() < 0.4 ? pick(REPOSITORIES.filter((r) => r !== repository)) : undefined;
        operations.push(push(repository, `new-${i}`, layersFor(`op ${i}`), from).then((image) => pushed.push(image)));
      } else if (roll < 0.7 && doomed[i % doomed.length]) {
        const victim = doomed[i % doomed.length]!;
        operations.push(call("DELETE", `/v2/${victim.repository}/manifests/${victim.digest}`).then((r) => expect([202, 404]).toContain(r.status)));
      } else {
        // Pull something: kept images must pull completely; a doomed one either is gone or pulls completely.
        const target = next() < 0.6 ? pick(kept) : pick(doomed);
        operations.push(
          pullCompletely(target.repository, target.tag).catch((error: Error) => {
            if (kept.includes(target) || !/manifest 404/.test(error.message)) throw error;
          }),
        );
      }
    }
    await Promise.all(operations);
    for (const victim of doomed) {
      const response = await call("DELETE", `/v2/${victim.repository}/manifests/${victim.digest}`);
      expect([202, 404]).toContain(response.status);
    }

    const remaining = [...kept, ...pushed];
    expect(pushed.length).toBeGreaterThan(10);
    for (const repository of REPOSITORIES) {
      const listed = await call("GET", `/v2/${repository}/tags/list`);
      const expected = remaining.filter((i) => i.repository === repository).map((i) => i.tag).sort();
      expect(listed.status === 200 ? ((await listed.json()) as { tags: string[] }).tags : []).toEqual(expected);
    }
    for (const image of remaining) await pullCompletely(image.repository, image.tag);
    expect((await fsck()).counts).toEqual({});

    await passGraceWindows();
    for (const image of remaining) await pullCompletely(image.repository, image.tag);
    const report = await fsck();
    expect(report.counts).toEqual({});
    const wanted = new Set(remaining.flatMap((i) => i.blobs).map(contentKeyOf));
    expect((await bucketKeys("blobs/")).sort()).toEqual([...wanted].sort());
    expect(await bucketKeys("uploads/")).toEqual([]);
    // Every blob a deleted image used alone is gone.
    const doomedOnly = doomed.flatMap((i) => i.blobs).filter((d) => !wanted.has(contentKeyOf(d)));
    expect(doomedOnly.length).toBeGreaterThan(0);
    for (const digest of doomedOnly) expect(await env.BLOBS.head(contentKeyOf(digest))).toBeNull();
  });
});
