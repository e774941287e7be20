// Crash points. Each test stops a multi-step operation halfway (by running
// only its first half inside the Durable Object, or by dropping an alarm the
// way a crashed run would leave it), then checks that what remains is at
// most garbage: every manifest still pulls, and fsck plus the alarms remove
// the garbage. The argument these tests exercise is in src/registry/blob-release.ts.

import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, pushBlob, pushImage, sha256 } from "../helpers";
import { blobIndexStub } from "../../src/registry/blob-index-do";
import { releaseDueLinks } from "../../src/registry/blob-release";
import { repositoryStub } from "../../src/registry/repository-do";
import { GRACE_MS, contentKeyOf, eventually, fsck, passGraceWindows, pullCompletely, sleep } from "./helpers";

const SLACK_MS = GRACE_MS; // fsck's overdue slack equals the grace window for short windows

async function stored(digest: string): Promise<boolean> {
  return (await env.BLOBS.head(contentKeyOf(digest))) !== null;
}

/** As if the alarm that would do the next step died with its Durable Object. */
async function loseAlarm(stub: DurableObjectStub<Rpc.DurableObjectBranded>): Promise<void> {
  await runInDurableObject(stub, (_instance, state) => state.storage.deleteAlarm());
}

describe("crash points", () => {
  it("between dropping the local link and releasing the global one: the outbox keeps the release, fsck re-arms it", async () => {
    const blob = await pushBlob("crash/outbox", "outbox crash blob");
    let repo = repositoryStub(env, "crash/outbox");
    await loseAlarm(repo);
    await sleep(GRACE_MS + 200);
    // The alarm's first half (one transaction) ran, then the object died before calling the blob index.
    const released = await runInDurableObject(repo, (_i, state) => state.storage.transactionSync(() => releaseDueLinks(state.storage.sql, Date.now(), GRACE_MS, 10)));
    expect(released).toEqual([blob.digest]);
    await loseAlarm(repo);
    await abortAllDurableObjects();
    repo = repositoryStub(env, "crash/outbox");

    expect((await call("HEAD", `/v2/crash/outbox/blobs/${blob.digest}`)).status).toBe(404);
    expect(await repo.pendingReleases()).toMatchObject({ waiting: 0, unlinking: 1, alarm: null });
    expect((await blobIndexStub(env, blob.digest).describe())?.repositories).toEqual(["crash/outbox"]); // garbage, not a dangling link
    expect(await stored(blob.digest)).toBe(true);

    await sleep(SLACK_MS + 200);
    const found = await fsck();
    expect(found.counts).toEqual({ "release-overdue": 1 });
    const repaired = await fsck("repair=1");
    expect(repaired.problems.map((p) => [p.kind, p.repository, p.repaired])).toEqual([["release-overdue", "crash/outbox", true]]);
    await runDurableObjectAlarm(repo); // re-armed for now: it may already have fired on its own
    await eventually(async () => (await blobIndexStub(env, blob.digest).describe())?.repositories.length === 0, "the global link is released");
    await passGraceWindows();
    expect(await stored(blob.digest)).toBe(false);
    expect((await fsck()).counts).toEqual({});
  });

  it("between register() and linkBlob(): a global link nobody holds is reported as leaked and released by repair", async () => {
    const bytes = new TextEncoder().encode("registered but never linked");
    const digest = await sha256(bytes);
    const index = blobIndexStub(env, digest);
    const pin = await index.pin(digest);
    await env.BLOBS.put(contentKeyOf(digest), bytes);
    await index.register(digest, contentKeyOf(digest), bytes.length, "crash/leak", pin);
    // …and the request died before RepositoryDO.linkBlob(). (A catalogued repository makes fsck walk it.)
    await pushImage("crash/leak", "v1", ["an unrelated layer"]);

    expect((await fsck()).counts).toEqual({}); // too young to call it leaked: a writer may be mid-push
    await sleep(GRACE_MS + SLACK_MS + 300);
    const report = await fsck();
    expect(report.counts).toEqual({ "leaked-link": 1 });
    expect(report.problems[0]).toMatchObject({ kind: "leaked-link", repository: "crash/leak", digest });
    await fsck("repair=1");
    expect((await index.describe())?.repositories).toEqual([]);
    await sleep(GRACE_MS + 300);
    await runDurableObjectAlarm(index);
    expect(await stored(digest)).toBe(false);
    await pullCompletely("crash/leak", "v1");
  });

  it("between the R2 put and register(): a copy nobody tracks is adopted as a stray and deleted once the writer's pin is gone", async () => {
    const bytes = new TextEncoder().encode("stored but never registered");
    const digest = await sha256(bytes);
    const index = blobIndexStub(env, digest);
    await index.pin(digest);
    await env.BLOBS.put(contentKeyOf(digest), bytes);
    await sleep(GRACE_MS + SLACK_MS + 300);
    expect((await fsck()).counts).toEqual({}); // a live pin: the writer may still register it

    // The writer died; its pin expires.
    await runInDurableObject(index, (_i, state) => state.storage.sql.exec("UPDATE pins SET expires_at = 0"));
    const report = await fsck("repair=1");
    expect(report.counts).toEqual({ "untracked-object": 1 });
    expect((await index.describe())?.key).toBeNull();
    await sleep(GRACE_MS + 300);
    await runDurableObjectAlarm(index);
    expect(await stored(digest)).toBe(false);
    expect((await fsck()).counts).toEqual({});
  });

  it("in the blob index alarm between forgetting the record and the R2 delete: the stray key finishes the job", async () => {
    const image = await pushImage("crash/stray", "v1", ["stray crash layer"]);
    const layer = image.layers[0]!.digest;
    const index = blobIndexStub(env, layer);
    expect((await call("DELETE", `/v2/crash/stray/manifests/${image.digest}`)).status).toBe(202);
    await sleep(GRACE_MS + 200);
    await runDurableObjectAlarm(repositoryStub(env, "crash/stray"));
    expect((await index.describe())?.repositories).toEqual([]);
    await loseAlarm(index);
    // What the alarm does before its R2 delete, then the crash.
    await runInDurableObject(index, (_i, state) => {
      state.storage.sql.exec("INSERT OR IGNORE INTO stray_keys (r2_key) SELECT r2_key FROM blob");
      state.storage.sql.exec("DELETE FROM blob");
    });
    expect(await stored(layer)).toBe(true);
    expect(await index.describe()).toBeNull();

    const report = await fsck("repair=1");
    expect(report.counts["unreferenced-object-overdue"]).toBe(1);
    await runDurableObjectAlarm(index);
    await eventually(async () => !(await stored(layer)), "the stray copy is deleted");
  });

  it("a Durable Object restart right after a delete loses nothing: the alarm is durable", async () => {
    const image = await pushImage("crash/restart", "v1", ["restart layer"]);
    expect((await call("DELETE", `/v2/crash/restart/manifests/${image.digest}`)).status).toBe(202);
    await abortAllDurableObjects();
    await passGraceWindows();
    expect(await stored(image.layers[0]!.digest)).toBe(false);
  });

  it("a global release racing a writer (register done, linkBlob not yet) is refused, and the writer's link stands", async () => {
    const blob = await pushBlob("crash/race", "race layer");
    const repo = repositoryStub(env, "crash/race");
    const index = blobIndexStub(env, blob.digest);
    await loseAlarm(repo);
    await sleep(GRACE_MS + 200);
    await runInDurableObject(repo, (_i, state) => state.storage.transactionSync(() => releaseDueLinks(state.storage.sql, Date.now(), GRACE_MS, 10)));
    // A push uploads the same blob again: register() refreshes the global link…
    const key = (await index.describe())!.key!;
    await index.register(blob.digest, key, blob.size, "crash/race");
    // …and before its linkBlob() the outbox sends the global release.
    const run = await repo.releaseBlobs();
    expect(run).toMatchObject({ unlinked: 0, deferred: 1 });
    expect((await index.describe())?.repositories).toEqual(["crash/race"]);
    await repo.linkBlob(blob.digest, blob.size, key); // the writer finishes
    expect((await repo.pendingReleases()).unlinking).toBe(0);

    // The push completes with a manifest that references the blob; it stays.
    const config = await pushBlob("crash/race", '{"architecture":"amd64","os":"linux","race":1}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob }],
    });
    expect((await call("PUT", "/v2/crash/race/manifests/v1", { body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })).status).toBe(201);
    await passGraceWindows();
    await pullCompletely("crash/race", "v1");
    expect((await fsck()).counts).toEqual({});
  });
});
