// Collects what one request did with an upstream and hands the figures to the
// upstream's stats object once the event loop turns, off the response path.

import type { UpstreamObserver, UpstreamRequestKind } from "./observer";
import { emptyDelta, upstreamStatsStub, type UpstreamStatsDelta } from "./stats-do";

export type WaitUntil = (promise: Promise<unknown>) => void;

export class RecordingObserver implements UpstreamObserver {
  private delta: UpstreamStatsDelta = emptyDelta();
  private scheduled = false;

  constructor(
    private readonly env: Env,
    private readonly upstream: string,
    private readonly waitUntil: WaitUntil,
  ) {}

  onRequest(kind: UpstreamRequestKind): void {
    this.delta.requests[kind] = (this.delta.requests[kind] ?? 0) + 1;
    this.schedule();
  }

  onRateLimit(limit: number, remaining: number, windowSeconds?: number): void {
    this.delta.rateLimit = { limit, remaining, windowSeconds, at: Date.now() };
    this.schedule();
  }

  onError(message: string): void {
    this.delta.lastError = { message, at: Date.now() };
    this.schedule();
  }

  onBytes(bytes: number): void {
    this.delta.bytesFromUpstream += bytes;
    this.schedule();
  }

  cacheHit(bytesServed: number): void {
    this.delta.cacheHits += 1;
    this.delta.bytesServed += bytesServed;
    this.schedule();
  }

  cacheMiss(bytesServed: number): void {
    this.delta.cacheMisses += 1;
    this.delta.bytesServed += bytesServed;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.waitUntil(
      Promise.resolve().then(async () => {
        this.scheduled = false;
        const delta = this.delta;
        this.delta = emptyDelta();
        try {
          await upstreamStatsStub(this.env, this.upstream).record(delta);
        } catch (error) {
          console.warn("upstream stats not recorded", this.upstream, error);
        }
      }),
    );
  }
}
