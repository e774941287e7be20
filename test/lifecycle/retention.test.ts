// Retention policies (RETENTION_POLICIES in vitest.config.ts):
//   retain/keep/**: keep the 2 most recent build-* tags, delete untagged manifests at once
//   retain/**:      delete untagged manifests at once
//   docker.io/retain/**: (cached) evict images not pulled for 30 days
// and the multi-arch and referrer rules deletion must respect.

import { createExecutionContext, createScheduledController, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, errorCode, pushImage, sha256, type PushedImage } from "../helpers";
import worker from "../../src/index";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { catalogStub } from "../../src/registry/catalog-do";
import { deleteManifestByDigest } from "../../src/registry/manifest-removal";
import { repositoryStub } from "../../src/registry/repository-do";
import { bucketKeys, contentKeyOf, fsck, passGraceWindows, pullCompletely, sleep } from "./helpers";

interface RetentionReport {
  dryRun: boolean;
  examined: number;
  repositories: { repository: string; untagged: { tag: string; digest: string }[]; deleted: { digest: string; reason: string; tags: string[] }[] }[];
  totals: { untagged: number; deleted: number };
}

async function retention(dryRun: boolean): Promise<RetentionReport> {
  const response = await call("POST", `/api/v1/admin/retention${dryRun ? "?dryRun=1" : ""}`);
  expect(response.status).toBe(200);
  return (await response.json()) as RetentionReport;
}

function forRepository(report: RetentionReport, name: string) {
  return report.repositories.find((r) => r.repository === name);
}

async function tags(name: string): Promise<string[]> {
  const response = await call("GET", `/v2/${name}/tags/list`);
  return response.status === 200 ? ((await response.json()) as { tags: string[] }).tags : [];
}

async function pushIndex(name: string, tag: string, children: { image: PushedImage; architecture: string }[]): Promise<string> {
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: children.map(({ image, architecture }) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: image.digest,
      size: image.bytes.length,
      platform: { os: "linux", architecture },
    })),
  });
  const response = await call("PUT", `/v2/${name}/manifests/${tag}`, { body, headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" } });
  expect(response.status, await response.clone().text()).toBe(201);
  return sha256(body);
}

/** Pushes an image and removes its temporary tag: an untagged manifest, as a multi-arch push leaves its platforms. */
async function pushUntagged(name: string, layers: string[], extra: Record<string, unknown> = {}): Promise<PushedImage> {
  const image = await pushImage(name, "tmp", layers, extra);
  expect((await call("DELETE", `/v2/${name}/manifests/tmp`)).status).toBe(202);
  return image;
}

describe("retention", () => {
  it("keeps the N most recent matching tags; a dry run reports exactly what the run then does", async () => {
    const name = "retain/keep/app";
    const builds: PushedImage[] = [];
    for (let i = 1; i <= 5; i++) {
      builds.push(await pushImage(name, `build-${i}`, ["keep shared base", `keep build ${i} layer`]));
      await sleep(5);
    }
    await pushImage(name, "latest", ["keep shared base", "keep build 5 layer"]);

    const dry = await retention(true);
    expect(dry.dryRun).toBe(true);
    const planned = forRepository(dry, name)!;
    expect(planned.untagged.map((u) => u.tag)).toEqual(["build-3", "build-2", "build-1"]);
    expect(planned.deleted.map((d) => d.digest).sort()).toEqual(builds.slice(0, 3).map((b) => b.digest).sort());
    expect(await tags(name)).toEqual(["build-1", "build-2", "build-3", "build-4", "build-5", "latest"]);

    const real = await retention(false);
    expect(forRepository(real, name)).toEqual(planned);
    expect(await tags(name)).toEqual(["build-4", "build-5", "latest"]);
    for (const gone of builds.slice(0, 3)) expect((await call("GET", `/v2/${name}/manifests/${gone.digest}`)).status).toBe(404);
    const history = (await (await call("GET", `/api/v1/repositories/${name}/history?tag=build-1`)).json()) as { history: { action: string; actor: string | null }[] };
    expect(history.history[0]).toMatchObject({ action: "removed", actor: "retention" });

    // Nothing left to do: a second run reports nothing for the repository.
    expect(forRepository(await retention(false), name)).toBeUndefined();

    await passGraceWindows();
    const keys = new Set(await bucketKeys("blobs/"));
    for (const gone of builds.slice(0, 3)) expect(keys.has(contentKeyOf(gone.layers[1]!.digest))).toBe(false);
    expect(keys.has(contentKeyOf(builds[0]!.layers[0]!.digest))).toBe(true); // the shared base
    for (const tag of await tags(name)) await pullCompletely(name, tag);
  });

  it("multi-arch: deleting untagged manifests never breaks a tagged index", async () => {
    const name = "retain/multi";
    const amd = await pushUntagged(name, ["multi base", "multi amd64"]);
    const arm = await pushUntagged(name, ["multi base", "multi arm64"]);
    const index = await pushIndex(name, "v1", [{ image: amd, architecture: "amd64" }, { image: arm, architecture: "arm64" }]);
    // An older, untagged index that shares a platform manifest with v1.
    const old = await pushIndex(name, "old", [{ image: amd, architecture: "amd64" }]);
    expect((await call("DELETE", `/v2/${name}/manifests/old`)).status).toBe(202);

    const report = forRepository(await retention(false), name)!;
    expect(report.deleted.map((d) => d.digest)).toEqual([old]);
    await pullCompletely(name, "v1");

    // A platform manifest of an index cannot be deleted while the index exists.
    const refused = await call("DELETE", `/v2/${name}/manifests/${arm.digest}`);
    expect(refused.status).toBe(409);
    expect(await errorCode(refused)).toBe("DENIED");

    // Untagging the index makes the whole image dangling: the index goes, then its platforms.
    expect((await call("DELETE", `/v2/${name}/manifests/v1`)).status).toBe(202);
    const second = forRepository(await retention(false), name)!;
    expect(second.deleted.map((d) => d.digest)).toEqual([index, amd.digest, arm.digest]);
    await passGraceWindows();
    const keys = new Set(await bucketKeys("blobs/"));
    for (const image of [amd, arm]) for (const blob of [image.config, ...image.layers]) expect(keys.has(contentKeyOf(blob.digest))).toBe(false);
  });

  it("referrers are kept while their subject exists; by default they outlive it, and retention then collects them", async () => {
    const name = "retain/ref";
    const image = await pushImage(name, "v1", ["referred layer"]);
    const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.digest, size: image.bytes.length };
    const signature = await pushUntagged(name, ["signature payload"], { subject, artifactType: "application/vnd.example.signature" });

    expect(forRepository(await retention(false), name)).toBeUndefined(); // untagged, but its subject is here
    expect((await call("DELETE", `/v2/${name}/manifests/${image.digest}`)).status).toBe(202);
    const listed = (await (await call("GET", `/v2/${name}/referrers/${image.digest}`)).json()) as { manifests: { digest: string }[] };
    expect(listed.manifests.map((m) => m.digest)).toEqual([signature.digest]); // REFERRERS_ON_SUBJECT_DELETE=keep

    const report = forRepository(await retention(false), name)!;
    expect(report.deleted.map((d) => d.digest)).toEqual([signature.digest]);
  });

  it("with REFERRERS_ON_SUBJECT_DELETE=delete, deleting a subject deletes its referrers, recursively", async () => {
    const name = "retain/ref-delete";
    const image = await pushImage(name, "v1", ["cascade layer"]);
    const subjectOf = (m: PushedImage) => ({ subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: m.digest, size: m.bytes.length } });
    const sbom = await pushUntagged(name, ["cascade sbom"], subjectOf(image));
    const sbomSignature = await pushUntagged(name, ["cascade sbom signature"], subjectOf(sbom));
    const removed = await runInDurableObject(repositoryStub(env, name), (_i, state) =>
      state.storage.transactionSync(() => deleteManifestByDigest(state.storage.sql, image.digest, Date.now(), null, "delete")),
    );
    expect(removed.ok && removed.value.map((r) => r.digest)).toEqual([image.digest, sbom.digest, sbomSignature.digest]);
  });

  it("untags at most maxDeletes tags per run and says the run was truncated", async () => {
    const name = "retain/untag-budget";
    const image = await pushImage(name, "build-0", ["untag budget layer"]);
    const query = Array.from({ length: 6 }, (_, i) => `tag=build-${i + 1}`).join("&");
    expect((await call("PUT", `/v2/${name}/manifests/${image.digest}?${query}`, { body: image.bytes, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })).status).toBe(201);
    const repo = repositoryStub(env, name);
    const policy = { repositories: name, keepTags: [{ pattern: "build-*", keep: 1 }] };
    const outcome = await repo.applyRetention(name, policy, { dryRun: false, actor: "retention", maxDeletes: 2, cached: false });
    expect(outcome.untagged).toHaveLength(2);
    expect(outcome.truncated).toBe(true);
    expect(await tags(name)).toHaveLength(5);
  });

  it("evicts images of cached repositories not pulled for the configured time, never a platform of a kept index", async () => {
    const name = "retain/cached-like";
    const stale = await pushImage(name, "stale", ["evict stale layer"]);
    const fresh = await pushImage(name, "fresh", ["evict fresh layer"]);
    const platform = await pushUntagged(name, ["evict platform layer"]);
    await pushIndex(name, "multi", [{ image: platform, architecture: "amd64" }]);
    const longAgo = Date.now() - 40 * 86400 * 1000;
    const repo = repositoryStub(env, name);
    await runInDurableObject(repo, (_i, state) => {
      state.storage.sql.exec("UPDATE manifests SET created_at = ?, last_pulled_at = ? WHERE digest IN (?, ?)", longAgo, longAgo, stale.digest, platform.digest);
    });
    const policy = { repositories: name, keepTags: [], evictUnpulledAfterSeconds: 30 * 86400 };
    const options = { dryRun: false, actor: "retention", maxDeletes: 100 };
    // A hosted repository is never evicted from…
    expect((await repo.applyRetention(name, policy, { ...options, cached: false })).deleted).toEqual([]);
    // …a cached one is: the stale image goes (tags and all); the recently pulled index keeps its old platform.
    const outcome = await repo.applyRetention(name, policy, { ...options, cached: true });
    expect(outcome.deleted).toEqual([{ digest: stale.digest, reason: "unpulled", tags: ["stale"] }]);
    await pullCompletely(name, "multi");
    await pullCompletely(name, "fresh");
    expect(fresh.digest).not.toBe(stale.digest);
    expect((await fsck()).counts).toEqual({});
  });

  it("the cron trigger runs the same policies: a cached repository evicts what was not pulled for 30 days", async () => {
    // Cached state as pull-through fills leave it (manifest stored, blobs linked), built without an upstream.
    const name = "docker.io/retain/evict";
    const repo = repositoryStub(env, name);
    const cache = async (tag: string, layers: string[]): Promise<{ digest: string; blobs: string[] }> => {
      const blobs: { digest: string; size: number }[] = [];
      for (const text of [`{"cached":"${tag}"}`, ...layers]) {
        const bytes = new TextEncoder().encode(text);
        const digest = await sha256(bytes);
        await env.BLOBS.put(contentKeyOf(digest), bytes);
        await blobIndexStub(env, digest).register(digest, contentKeyOf(digest), bytes.length, name);
        blobs.push({ digest, size: bytes.length });
      }
      const [config, ...rest] = blobs;
      const bytes = new TextEncoder().encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
          layers: rest.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
        }),
      );
      const digest = await sha256(bytes);
      const write = { digest, mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, blobs, manifests: [] };
      await repo.putCachedManifest(write, tag);
      for (const blob of blobs) await repo.linkBlob(blob.digest, blob.size, contentKeyOf(blob.digest));
      return { digest, blobs: blobs.map((b) => b.digest) };
    };
    const stale = await cache("old", ["evicted cached layer", "shared cached layer"]);
    const recent = await cache("new", ["kept cached layer", "shared cached layer"]);
    await catalogStub(env).add(name);
    const longAgo = Date.now() - 31 * 86400 * 1000;
    await runInDurableObject(repo, (_i, state) => state.storage.sql.exec("UPDATE manifests SET created_at = ?, last_pulled_at = ? WHERE digest = ?", longAgo, longAgo, stale.digest));

    const planned = forRepository(await retention(true), name);
    expect(planned).toMatchObject({ kind: "cached", deleted: [{ digest: stale.digest, reason: "unpulled", tags: ["old"] }] });

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect((await repo.resolve(stale.digest)).ok).toBe(false);
    expect((await repo.resolve("new")).ok).toBe(true);

    await passGraceWindows();
    const keys = new Set(await bucketKeys("blobs/"));
    expect(stale.blobs.map((d) => keys.has(contentKeyOf(d)))).toEqual([false, false, true]); // config, own layer, shared layer
    expect(recent.blobs.every((d) => keys.has(contentKeyOf(d)))).toBe(true);
    expect((await fsck()).counts).toEqual({});
  });
});
