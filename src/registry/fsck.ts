// fsck: checks the registry's storage invariants online, without loading every
// digest at once. It walks repositories from the catalog (each checks its own
// SQLite state, fsck-local.ts), then each repository's blob links in pages
// (the blob index knows the link and the same key; the R2 object exists with
// the right size), then the bucket in pages (every content-addressed object is
// tracked by its blob index, unreferenced objects are on their way out, old
// upload leftovers are gone). Work per call is bounded by `budget`; a call
// that did not finish returns a cursor to continue from.
//
// `repair` fixes what it can without ever deleting something a manifest may
// need: counts, tags to nothing, missing schedules and alarms, links the blob
// index forgot, local keys that are not canonical; leaked global links are
// released (conditionally, blob-release.ts) and untracked copies are handed
// to their blob index as stray keys, which its alarm deletes after the grace
// window unless a writer registers them first.

import { loadConfig } from "../config";
import { OciError } from "../http/errors";
import { blobIndexStub, type BlobInspection } from "./blob-index-do";
import { catalogStub } from "./catalog-do";
import { overdueSlackMs, type FsckProblem, type FsckProblemKind } from "./fsck-local";
import { openRepository } from "./open-repository";
import { repositoryStub, type BlobLink } from "./repository-do";
import { statObject } from "./segmented-object";

export interface FsckOptions {
  /** Fix what can be fixed. */
  repair: boolean;
  /** Continue a run that returned `complete: false`. */
  cursor?: string | null;
  /** Links plus objects examined in this call. */
  budget?: number;
}

export interface FsckReport {
  mode: "check" | "repair";
  complete: boolean;
  /** Pass it back as ?cursor= to continue; null when complete. */
  cursor: string | null;
  problems: FsckProblem[];
  counts: Partial<Record<FsckProblemKind, number>>;
  checked: { repositories: number; links: number; objects: number };
}

export const DEFAULT_FSCK_BUDGET = 2000;
const LINK_PAGE = 100;
const OBJECT_PAGE = 500;
const CONCURRENCY = 16;
/** Repositories linking one object that fsck asks about (leaked-link check). */
const MAX_LINKS_PER_OBJECT = 1000;
/** Problems listed per call (counts stay exact). */
const MAX_LISTED = 1000;

interface Cursor {
  phase: "repositories" | "objects";
  /** Last repository finished. */
  after: string;
  /** Repository in progress and the last digest of it checked. */
  repository?: string;
  digest?: string;
  /** R2 list cursor. */
  r2?: string;
}

export async function runFsck(env: Env, options: FsckOptions): Promise<FsckReport> {
  const report: FsckReport = {
    mode: options.repair ? "repair" : "check",
    complete: false,
    cursor: null,
    problems: [],
    counts: {},
    checked: { repositories: 0, links: 0, objects: 0 },
  };
  const count = (kind: FsckProblemKind, n = 1): void => {
    report.counts[kind] = (report.counts[kind] ?? 0) + n;
  };
  const list = (problem: FsckProblem): void => {
    if (report.problems.length < MAX_LISTED) report.problems.push(problem);
  };
  const add = (problem: FsckProblem): void => {
    count(problem.kind);
    list(problem);
  };
  const context: CheckContext = { env, repair: options.repair, now: Date.now(), config: loadConfig(env), add, count, list };
  const state = decodeCursor(options.cursor);
  let budget = Math.max(1, options.budget ?? DEFAULT_FSCK_BUDGET);

  while (budget > 0 && state.phase === "repositories") {
    if (state.repository === undefined) {
      const next = (await catalogStub(env).list(1, state.after || undefined)).names[0];
      if (next === undefined) {
        state.phase = "objects";
        break;
      }
      state.repository = next;
      state.digest = "";
      await checkRepositoryState(context, next);
      report.checked.repositories++;
    }
    const name = state.repository;
    const want = Math.min(budget, LINK_PAGE);
    const page = await repositoryStub(env, name).blobPage(state.digest ?? "", want);
    await inBatches(page, (link) => checkLink(context, name, link));
    report.checked.links += page.length;
    budget -= Math.max(page.length, 1);
    const last = page.at(-1);
    if (page.length < want || !last) {
      state.after = name;
      state.repository = undefined;
      state.digest = undefined;
    } else {
      state.digest = last.digest;
    }
  }

  while (budget > 0 && state.phase === "objects") {
    const page = await env.BLOBS.list({ cursor: state.r2, limit: Math.min(budget, OBJECT_PAGE) });
    budget -= Math.max(page.objects.length, 1);
    report.checked.objects += page.objects.length;
    await inBatches(page.objects, (object) => checkObject(context, object));
    if (!page.truncated) {
      report.complete = true;
      return report;
    }
    state.r2 = page.cursor;
  }
  report.cursor = encodeCursor(state);
  return report;
}

interface CheckContext {
  env: Env;
  repair: boolean;
  now: number;
  config: ReturnType<typeof loadConfig>;
  /** Counts and lists a problem. */
  add: (problem: FsckProblem) => void;
  count: (kind: FsckProblemKind, n?: number) => void;
  list: (problem: FsckProblem) => void;
}

/** The repository's own checks, then relinking referenced blobs it lost if the blob index still has them. */
async function checkRepositoryState(context: CheckContext, name: string): Promise<void> {
  const lazy = openRepository(context.env, name).kind === "cached";
  const local = await repositoryStub(context.env, name).fsck(name, context.repair, lazy);
  const relinkable = new Set<string>();
  for (const digest of local.missingBlobs) {
    const index = blobIndexStub(context.env, digest);
    const location = (await index.inspect(name)).key;
    const object = location ? await statObject(context.env.BLOBS, location) : null;
    if (!location || !object) continue;
    relinkable.add(digest);
    if (context.repair) {
      const linked = await index.linkExisting(digest, name);
      if (linked) await repositoryStub(context.env, name).linkBlob(digest, linked.size, linked.key);
    }
  }
  for (const [kind, n] of Object.entries(local.counts) as [FsckProblemKind, number][]) context.count(kind, n);
  for (const problem of local.problems) {
    const fixable = problem.kind === "reference-to-missing-blob" && problem.digest !== undefined && relinkable.has(problem.digest);
    context.list({ ...problem, repository: name, repairable: problem.repairable || fixable, repaired: problem.repaired || (fixable && context.repair) });
  }
}

async function checkLink(context: CheckContext, repository: string, link: BlobLink): Promise<void> {
  const { env, repair } = context;
  const index = blobIndexStub(env, link.digest);
  const info = await index.inspect(repository);
  const object = await statObject(env.BLOBS, link.key);
  const problem = (kind: FsckProblemKind, detail: string, repairable: boolean): void =>
    context.add({ kind, repository, digest: link.digest, key: link.key, detail, repairable, repaired: repair && repairable });

  if (object && object.size !== link.size) {
    problem("size-mismatch", `R2 object is ${object.size} bytes, the link says ${link.size}`, false);
    return;
  }
  const canonical = await canonicalCopy(env, info, link.size);
  if (!canonical) {
    if (!object) {
      problem("missing-from-storage", "neither this repository's key nor the blob index's holds the blob", false);
      return;
    }
    // The index lost the blob (or its copy) while this repository links a good one: make that copy canonical.
    problem("link-unknown-to-blob-index", info.known ? "the blob index has no stored copy of this blob" : "the blob index has no record of this blob", true);
    if (repair) await index.register(link.digest, link.key, link.size, repository);
    return;
  }
  if (canonical !== link.key) {
    problem("key-mismatch", `the repository reads ${link.key}, the blob index keeps ${canonical}`, true);
    if (repair) {
      const linked = await index.linkExisting(link.digest, repository);
      if (linked) await repositoryStub(env, repository).linkBlob(link.digest, linked.size, linked.key);
    }
    return;
  }
  if (info.linkedAt === null) {
    problem("link-unknown-to-blob-index", "the blob index does not count this repository's link, so it could delete the blob", true);
    if (repair) await index.linkExisting(link.digest, repository);
  }
}

/** The blob index's key when that object exists with the right size. */
async function canonicalCopy(env: Env, info: BlobInspection, size: number): Promise<string | null> {
  if (!info.key) return null;
  const head = await statObject(env.BLOBS, info.key);
  return head && head.size === size ? info.key : null;
}

async function checkObject(context: CheckContext, object: R2Object): Promise<void> {
  const { env, repair, now, config } = context;
  const graceMs = config.blobGraceSeconds * 1000;
  const slack = overdueSlackMs(graceMs);
  const age = now - object.uploaded.getTime();
  const problem = (kind: FsckProblemKind, detail: string, repairable: boolean, digest?: string): void =>
    context.add({ kind, key: object.key, digest, detail, repairable, repaired: repair && repairable });

  if (object.key.startsWith("uploads/")) {
    if (age > (config.uploadExpirySeconds * 1000 + graceMs + slack)) {
      problem("abandoned-upload-data", "upload data older than the upload expiry", true);
      if (repair) await env.BLOBS.delete(object.key);
    }
    return;
  }
  const digest = digestOfContentKey(object.key);
  if (!digest) return; // assembled/ (multipart) keys are checked through the links that use them
  const index = blobIndexStub(env, digest);
  const info = await index.inspect(null);
  if (info.key !== object.key) {
    if (info.strayKeys.includes(object.key)) {
      if (info.alarm === null && info.pins === 0) {
        problem("unreferenced-object-overdue", "stray copy queued for deletion without an alarm", true, digest);
        if (repair) await index.rearm();
      }
      return;
    }
    if (info.pins > 0 || age < graceMs + slack) return; // a writer may be about to register it
    problem("untracked-object", info.key ? `a copy the blob index does not use (it keeps ${info.key})` : "no blob index tracks this object", true, digest);
    if (repair) await index.adoptStray(digest, object.key);
    return;
  }
  if (info.links === 0) {
    const since = info.unreferencedSince;
    if (info.pins === 0 && (since === null ? age > graceMs + slack : since + graceMs + slack < now)) {
      problem("unreferenced-object-overdue", since === null ? "no repository links it and no deletion is scheduled" : `unreferenced since ${new Date(since).toISOString()}`, true, digest);
      if (repair) await index.rearm();
    }
    return;
  }
  // Links with no local link behind them keep garbage alive forever; late releases keep it too long.
  // Asking the linking repositories also reaches those the catalog does not list (blobs, no manifest).
  const cutoff = now - graceMs - slack;
  for (let after = "", asked = 0; asked < MAX_LINKS_PER_OBJECT; ) {
    const links = await index.linkedRepositories(after, 100);
    await inBatches(links, async ({ repository, linkedAt }) => {
      if (linkedAt > cutoff) return;
      const holder = repositoryStub(env, repository);
      const health = await holder.linkHealth(digest, slack);
      if (health.state === "none") {
        context.add({ kind: "leaked-link", repository, digest, key: object.key, detail: "the blob index counts a link this repository does not have", repairable: true, repaired: repair });
        if (repair) await index.release(repository);
      } else if (health.overdue && !(await catalogued(env, repository))) {
        // (Catalogued repositories report their late releases in the repository phase.)
        const detail = health.state === "linked" ? "unreferenced link whose release is late or unscheduled" : "global release queued but not sent";
        context.add({ kind: "release-overdue", repository, digest, key: object.key, detail, repairable: true, repaired: repair });
        if (repair) await holder.resumeRelease(digest);
      }
    });
    asked += links.length;
    const last = links.at(-1);
    if (links.length < 100 || !last) break;
    after = last.repository;
  }
}

async function catalogued(env: Env, name: string): Promise<boolean> {
  return (await catalogStub(env).list(1, undefined, name)).names[0] === name;
}

/** `blobs/<algorithm>/<xx>/<hex>` → `<algorithm>:<hex>`. */
function digestOfContentKey(key: string): string | null {
  const match = /^blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
  return match ? `${match[1]}:${match[2]}` : null;
}

async function inBatches<T>(items: T[], run: (item: T) => Promise<void>): Promise<void> {
  for (let at = 0; at < items.length; at += CONCURRENCY) await Promise.all(items.slice(at, at + CONCURRENCY).map(run));
}

function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(text: string | null | undefined): Cursor {
  if (!text) return { phase: "repositories", after: "" };
  let parsed: Partial<Cursor>;
  try {
    parsed = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/"))) as Partial<Cursor>;
  } catch {
    throw new OciError("UNSUPPORTED", "invalid fsck cursor: pass back the cursor of the previous answer", { cursor: text }, 400);
  }
  if (parsed.phase !== "repositories" && parsed.phase !== "objects") {
    throw new OciError("UNSUPPORTED", "invalid fsck cursor: pass back the cursor of the previous answer", { cursor: text }, 400);
  }
  const text_ = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
  return { phase: parsed.phase, after: text_(parsed.after) ?? "", repository: text_(parsed.repository), digest: text_(parsed.digest), r2: text_(parsed.r2) };
}
