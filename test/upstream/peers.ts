// Typed access to the real upstream peers started by test/upstream/global-setup.mjs.
import { inject } from "vitest";
import type { UpstreamConfig } from "../../src/upstream/config";
import type { UpstreamObserver, UpstreamRequestKind } from "../../src/upstream/observer";

export interface BlobRef {
  digest: string;
  size: number;
}

export interface ImageRef extends BlobRef {
  mediaType: string;
  platform: { architecture: string; os: string; variant?: string };
  config: BlobRef & { mediaType: string };
  layers: BlobRef[];
}

export interface UpstreamPeers {
  /** Logging / fault proxy in front of the open registry. */
  open: string;
  /** Proxy in front of the htpasswd registry (user berth, password berth-pass). */
  basic: string;
  /** Proxy in front of the token-auth registry. */
  token: string;
  tokenServer: string;
  cdn: string;
  direct: { open: string; basic: string; token: string };
  /** A loopback port where nothing listens. */
  refused: string;
  credentials: { username: string; password: string };
  tokenService: string;
  images: {
    /** seed/single:v1, library/alpine:3, public/single:v1 — layers[0] is 3 MiB. */
    single: ImageRef;
    /** seed/multi:v1 — an OCI index of linux/amd64 and linux/arm64/v8. */
    multi: BlobRef & { mediaType: string; manifests: ImageRef[] };
    /** seed/docker:v1 — the single image converted to Docker schema 2 by skopeo. */
    docker: BlobRef & { mediaType: string };
  };
  /** The OCI image layout the registries were seeded from (refs single, multi). */
  layout: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    upstreamPeers: UpstreamPeers;
  }
}

export function peers(): UpstreamPeers {
  const value = inject("upstreamPeers");
  if (!value) throw new Error("upstream peers are not running: add test/upstream/global-setup.mjs to globalSetup in vitest.config.ts");
  return value;
}

export function upstreamAt(url: string, overrides: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name: "peer",
    url,
    aliases: [],
    tagTtlSeconds: 300,
    timeoutSeconds: 5,
    allowPrivateAddresses: true,
    dockerHub: false,
    ...overrides,
  };
}

export interface LogEntry {
  seq: number;
  server: "open" | "basic" | "token" | "token-server" | "cdn";
  method: string;
  path: string;
  auth?: string;
  scope?: string;
  /** The request's Range header, if any. */
  range?: string;
}

/** The shared request log of all proxies, the token server and the CDN. */
export class RequestLog {
  private constructor(private readonly since: number) {}

  static async mark(): Promise<RequestLog> {
    const response = await fetch(`${peers().open}/__log?since=${Number.MAX_SAFE_INTEGER}`);
    const { last } = (await response.json()) as { last: number };
    return new RequestLog(last);
  }

  /** Entries recorded after the mark, optionally only those mentioning `repo` (path or token scope). */
  async entries(repo?: string): Promise<LogEntry[]> {
    const response = await fetch(`${peers().open}/__log?since=${this.since}`);
    const { entries } = (await response.json()) as { entries: LogEntry[] };
    if (!repo) return entries;
    return entries.filter((e) => e.path.includes(`/${repo}/`) || (e.scope ?? "").includes(`repository:${repo}:`));
  }

  async summary(repo?: string): Promise<string[]> {
    return (await this.entries(repo)).map((e) => `${e.server} ${e.method} ${e.path.replace(/sha256:[0-9a-f]{64}/, "<digest>")}${e.auth ? ` [${e.auth}]` : ""}`);
  }
}


export async function sha256Hex(stream: ReadableStream<Uint8Array>): Promise<{ digest: string; size: number }> {
  const digest = new crypto.DigestStream("SHA-256");
  digest.digest.catch(() => {}); // rejected when the source fails; the pipe reports that
  let size = 0;
  await stream
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeTo(digest);
  const hex = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { digest: `sha256:${hex}`, size };
}

/** Remembers everything the client reported. */
export class RecordingObserver implements UpstreamObserver {
  requests: UpstreamRequestKind[] = [];
  rateLimits: Array<[number, number, number | undefined]> = [];
  errors: string[] = [];
  bytes: number[] = [];
  onRequest(kind: UpstreamRequestKind): void {
    this.requests.push(kind);
  }
  onRateLimit(limit: number, remaining: number, windowSeconds?: number): void {
    this.rateLimits.push([limit, remaining, windowSeconds]);
  }
  onError(message: string): void {
    this.errors.push(message);
  }
  onBytes(n: number): void {
    this.bytes.push(n);
  }
}
