// Helpers for lifecycle tests: time passing the grace window (vitest.config.ts
// sets BLOB_GRACE_SECONDS=3), alarms, the bucket's contents, fsck and full pulls.

import { env, listDurableObjectIds, runDurableObjectAlarm } from "cloudflare:test";
import { expect } from "vitest";
import { call, sha256 } from "../helpers";

export const GRACE_MS = 3000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` holds (alarms that fired on their own may still be finishing), or fails. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(100);
  }
}

/** Runs every scheduled alarm of one namespace now (alarms also fire on their own). */
export async function runAlarms<T extends Rpc.DurableObjectBranded | undefined>(namespace: DurableObjectNamespace<T>): Promise<number> {
  let ran = 0;
  for (const id of await listDurableObjectIds(namespace)) {
    if (await runDurableObjectAlarm(namespace.get(id))) ran++;
  }
  return ran;
}

/**
 * Lets the grace window pass twice: once for repositories to drop their
 * unreferenced links, once for the blob index to delete unlinked objects.
 */
export async function passGraceWindows(): Promise<void> {
  await sleep(GRACE_MS + 300);
  await runAlarms(env.REPOSITORY);
  await sleep(GRACE_MS + 300);
  await runAlarms(env.BLOB_INDEX);
  // An alarm that fired on its own may still be finishing its R2 delete.
  await sleep(100);
  await runAlarms(env.BLOB_INDEX);
}

/** Every key in the bucket, in pages. */
export async function bucketKeys(prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BLOBS.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

export function contentKeyOf(digest: string): string {
  const [algorithm, hex] = digest.split(":") as [string, string];
  return `blobs/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

export interface FsckReport {
  complete: boolean;
  cursor: string | null;
  problems: { kind: string; repository?: string; digest?: string; detail: string; repaired: boolean }[];
  counts: Record<string, number>;
  checked: { repositories: number; links: number; objects: number };
}

/** Runs fsck to the end (following its cursor) and merges the pages. */
export async function fsck(query = ""): Promise<FsckReport> {
  const merged: FsckReport = { complete: false, cursor: null, problems: [], counts: {}, checked: { repositories: 0, links: 0, objects: 0 } };
  let cursor: string | null = null;
  for (let round = 0; round < 100; round++) {
    const params = new URLSearchParams(query);
    if (cursor) params.set("cursor", cursor);
    const response = await call("POST", `/api/v1/admin/fsck?${params}`);
    expect(response.status, await response.clone().text()).toBe(200);
    const page = (await response.json()) as FsckReport;
    merged.problems.push(...page.problems);
    for (const [kind, n] of Object.entries(page.counts)) merged.counts[kind] = (merged.counts[kind] ?? 0) + n;
    merged.checked.repositories += page.checked.repositories;
    merged.checked.links += page.checked.links;
    merged.checked.objects += page.checked.objects;
    if (page.complete) {
      merged.complete = true;
      return merged;
    }
    cursor = page.cursor;
  }
  throw new Error("fsck did not finish in 100 rounds");
}

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** Pulls `reference` completely (index → platform manifests → config and layers), verifying every digest. */
export async function pullCompletely(name: string, reference: string): Promise<{ blobs: string[]; manifests: string[] }> {
  const seen = { blobs: [] as string[], manifests: [] as string[] };
  const response = await call("GET", `/v2/${name}/manifests/${reference}`, { headers: { Accept: ACCEPT } });
  if (response.status !== 200) throw new Error(`pull ${name}:${reference}: manifest ${response.status} ${await response.text()}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await sha256(bytes);
  if (reference.startsWith("sha256:") && digest !== reference) throw new Error(`manifest ${reference} came back as ${digest}`);
  seen.manifests.push(digest);
  const manifest = JSON.parse(new TextDecoder().decode(bytes)) as {
    manifests?: { digest: string }[];
    config?: { digest: string; size: number };
    layers?: { digest: string; size: number }[];
  };
  for (const child of manifest.manifests ?? []) {
    const pulled = await pullCompletely(name, child.digest);
    seen.blobs.push(...pulled.blobs);
    seen.manifests.push(...pulled.manifests);
  }
  for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
    const res = await call("GET", `/v2/${name}/blobs/${blob.digest}`);
    if (res.status !== 200) throw new Error(`pull ${name}:${reference}: blob ${blob.digest} ${res.status} ${await res.text()}`);
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length !== blob.size || (await sha256(body)) !== blob.digest) throw new Error(`pull ${name}:${reference}: blob ${blob.digest} is damaged`);
    seen.blobs.push(blob.digest);
  }
  return seen;
}
