// Where upstream tokens wait until they expire. The Worker uses the Workers Cache API (per data
// center, survives isolates, no module-global state); tests inject MemoryTokenCache.

export interface TokenCache {
  get(key: string): Promise<string | undefined>;
  /** Keeps `value` for `ttlSeconds` (≥ 1). */
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/** Synthetic https://berth.internal/… keys with Cache-Control max-age in `caches.default`. */
export class CacheApiTokenCache implements TokenCache {
  constructor(
    private readonly cache: Cache = caches.default,
    private readonly prefix = "https://berth.internal/upstream-tokens/",
  ) {}

  async get(key: string): Promise<string | undefined> {
    const hit = await this.cache.match(this.url(key));
    return hit ? await hit.text() : undefined;
  }

  async put(key: string, value: string, ttlSeconds: number): Promise<void> {
    const ttl = Math.max(1, Math.floor(ttlSeconds));
    await this.cache.put(
      this.url(key),
      new Response(value, { headers: { "Cache-Control": `max-age=${ttl}`, "Content-Type": "text/plain" } }),
    );
  }

  private url(key: string): string {
    return `${this.prefix}${encodeURIComponent(key)}`;
  }
}

/** In-memory cache with a clock, for tests. */
export class MemoryTokenCache implements TokenCache {
  readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async put(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: this.now() + Math.max(1, Math.floor(ttlSeconds)) * 1000 });
  }
}
