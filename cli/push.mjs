// `berth push <source> <destination>`: reads the image (every manifest of an index, unless
// --platform picks one), uploads its blobs — largest first, a few at a time, each in chunks the
// registry accepts — then puts the manifests children first, the top one under the tag.
// Resolves the pushed digest.

import { findCredentials } from "./credentials.mjs";
import { RegistryError, UsageError, registryError } from "./errors.mjs";
import { drain } from "./http.mjs";
import { isIndex, manifestMediaType } from "./media-types.mjs";
import { formatBytes, Progress } from "./progress.mjs";
import { displayName } from "./reference.mjs";
import { Registry, repositoryScope } from "./registry.mjs";
import { openDockerArchive } from "./sources/docker-archive.mjs";
import { openOciLayout } from "./sources/oci-layout.mjs";
import { openRegistrySource } from "./sources/registry.mjs";
import { uploadBlob } from "./upload.mjs";

/** `linux/arm64[/v8]` → {os, architecture, variant?}. */
export function parsePlatform(text) {
  const [os, architecture, variant] = text.split("/");
  if (!os || !architecture) throw new UsageError(`--platform must be os/arch[/variant], not "${text}"`);
  return { os, architecture, variant };
}

function platformMatches(wanted, offered = {}) {
  if (offered.os !== wanted.os || offered.architecture !== wanted.architecture) return false;
  if (!wanted.variant) return true;
  const variant = offered.variant ?? (offered.architecture === "arm64" ? "v8" : undefined);
  return variant === wanted.variant;
}

async function openSource(spec, options) {
  if (spec.kind === "oci" || spec.kind === "oci-archive") return openOciLayout(spec);
  if (spec.kind === "docker-archive") return openDockerArchive(spec, options);
  const credentials = options.srcCreds ?? findCredentials(spec.image.host, spec.image.repository, { authfile: options.authfile });
  return openRegistrySource(spec, { ...options, insecure: options.srcInsecure, credentials });
}

/**
 * Everything to push: manifests in push order (children before their index) and the blobs
 * they reference, by digest.
 */
export async function planPush(source, { platform } = {}) {
  const manifests = [];
  const blobs = new Map();
  const walk = async (bytes, declared, digest) => {
    const { mediaType, doc } = manifestMediaType(bytes, declared);
    if (doc.schemaVersion === 1) throw new UsageError(`${source.name}: Docker schema 1 manifests are not supported (convert with skopeo first)`);
    if (isIndex(mediaType) || Array.isArray(doc.manifests)) {
      for (const child of doc.manifests ?? []) await walk(await source.manifest(child), child.mediaType, child.digest);
    } else {
      for (const descriptor of [doc.config, ...(doc.layers ?? [])]) {
        if (!descriptor) continue;
        // foreign (non-distributable) layers with URLs are not in the source; registries fetch them
        if (descriptor.urls?.length && !(await source.has(descriptor))) continue;
        blobs.set(descriptor.digest, descriptor);
      }
    }
    if (!manifests.some((m) => m.digest === digest)) manifests.push({ digest, mediaType, bytes });
  };

  let root = await source.root();
  if (platform) {
    const { mediaType, doc } = manifestMediaType(root.bytes, root.mediaType);
    if (!isIndex(mediaType)) throw new UsageError(`--platform: ${source.name} is a single image, not a multi-platform index`);
    const child = (doc.manifests ?? []).find((m) => platformMatches(platform, m.platform));
    if (!child) {
      const offered = (doc.manifests ?? []).map((m) => [m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join("/")).join(", ");
      throw new UsageError(`--platform ${[platform.os, platform.architecture, platform.variant].filter(Boolean).join("/")}: ${source.name} offers ${offered}`);
    }
    root = { bytes: await source.manifest(child), mediaType: child.mediaType, digest: child.digest };
  }
  await walk(root.bytes, root.mediaType, root.digest);
  return { root: manifests[manifests.length - 1], manifests, blobs: [...blobs.values()] };
}

/** Runs `work(item)` for every item, at most `limit` at once; rejects on the first failure. */
export async function eachLimited(items, limit, work) {
  const queue = [...items];
  let failed;
  const worker = async () => {
    while (queue.length && !failed) {
      const item = queue.shift();
      try {
        await work(item);
      } catch (error) {
        failed ??= error;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

export async function push(options) {
  const { source: sourceSpec, destination } = options;
  const progress = new Progress({ quiet: options.quiet });
  const note = (message) => progress.note(message);
  const started = Date.now();

  const source = await openSource(sourceSpec, { ...options, log: note });
  const dest = new Registry({
    host: destination.host,
    apiHost: destination.apiHost,
    insecure: options.destInsecure,
    credentials: options.creds ?? findCredentials(destination.host, destination.repository, { authfile: options.authfile }),
    retries: options.retries,
    log: note,
  });
  await dest.connect();

  const plan = await planPush(source, { platform: options.platform });
  if (destination.digest && destination.digest !== plan.root.digest) {
    throw new UsageError(`the destination names ${destination.digest} but ${source.name} is ${plan.root.digest}`);
  }
  const sameRegistry = source.mountFrom && source.mountFrom.host === destination.host && source.mountFrom.repository !== destination.repository;
  const totalBytes = plan.blobs.reduce((sum, b) => sum + b.size, 0);
  note(`pushing ${source.name} to ${displayName(destination)}: ${plan.manifests.length} manifest(s), ${plan.blobs.length} blob(s), ${formatBytes(totalBytes)}`);

  const outcomes = { exists: 0, mounted: 0, uploaded: 0 };
  progress.plan(plan.blobs);
  try {
    const largestFirst = [...plan.blobs].sort((a, b) => b.size - a.size);
    await eachLimited(largestFirst, options.jobs, async (descriptor) => {
      const how = await uploadBlob({
        registry: dest,
        repository: destination.repository,
        descriptor,
        source,
        mountFrom: sameRegistry ? source.mountFrom.repository : undefined,
        chunkBytes: options.chunkBytes,
        retries: options.retries,
        progress: (done) => progress.update(descriptor.digest, done),
        log: note,
      });
      outcomes[how] += 1;
      progress.finish(descriptor.digest, how);
    });
  } finally {
    progress.stop();
  }

  const scopes = [repositoryScope(destination.repository, "pull,push")];
  for (const manifest of plan.manifests) {
    const isRoot = manifest === plan.root;
    const reference = isRoot && destination.tag ? destination.tag : manifest.digest;
    const response = await dest.call("PUT", `/v2/${destination.repository}/manifests/${reference}`, {
      scopes,
      headers: { "Content-Type": manifest.mediaType },
      body: manifest.bytes,
    });
    if (response.status !== 201) throw await registryError(`putting manifest ${manifest.digest.slice(0, 19)}${isRoot && destination.tag ? ` as ${destination.tag}` : ""}`, response);
    await drain(response);
    const answered = response.headers["docker-content-digest"];
    if (answered && answered !== manifest.digest) {
      throw new RegistryError(`the registry stored manifest ${manifest.digest} as ${answered}: it changed the bytes`);
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  note(
    `pushed ${displayName({ ...destination, digest: undefined })}@${plan.root.digest} in ${seconds} s ` +
      `(blobs: ${outcomes.uploaded} uploaded, ${outcomes.exists} already there, ${outcomes.mounted} mounted)`,
  );
  return plan.root.digest;
}
