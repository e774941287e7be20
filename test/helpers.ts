import { SELF } from "cloudflare:test";

export const BASE = "https://berth.test";

export function call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(new URL(path, BASE).toString(), { method, redirect: "manual", ...init });
}

export async function sha256(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return `sha256:${[...hash].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export async function sha512(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-512", data));
  return `sha512:${[...hash].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Deterministic pseudo-random bytes (not zeros, so nothing compresses them away). */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

/** Pushes a blob with a monolithic POST ?digest= and returns its digest. */
export async function pushBlob(name: string, bytes: Uint8Array | string): Promise<{ digest: string; size: number }> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = await sha256(data);
  const response = await call("POST", `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data, headers: { "Content-Length": String(data.length) } });
  if (response.status !== 201) throw new Error(`push blob: ${response.status} ${await response.text()}`);
  return { digest, size: data.length };
}

export interface PushedImage {
  digest: string;
  bytes: Uint8Array;
  config: { digest: string; size: number };
  layers: { digest: string; size: number }[];
}

/** Pushes config + layers + an OCI image manifest tagged `tag`. */
export async function pushImage(name: string, tag: string, layers: string[], extra: Record<string, unknown> = {}): Promise<PushedImage> {
  const config = await pushBlob(name, JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, layers }));
  const pushed = [];
  for (const layer of layers) pushed.push(await pushBlob(name, layer));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: pushed.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
    ...extra,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const response = await call("PUT", `/v2/${name}/manifests/${tag}`, {
    body: bytes,
    headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
  });
  if (response.status !== 201) throw new Error(`push manifest: ${response.status} ${await response.text()}`);
  return { digest: await sha256(bytes), bytes, config, layers: pushed };
}
