import { afterEach, describe, expect, it, vi } from "vitest";
import { WARN_INTERVAL_MS, warnOpen } from "./open-mode";

const request = (path: string) => new Request(`https://berth.test${path}`);

describe("warnOpen", () => {
  afterEach(() => vi.restoreAllMocks());

  it("warns at least every WARN_INTERVAL_MS while /v2/ requests come in, not once per request", () => {
    let now = Date.now() + 60 * WARN_INTERVAL_MS; // well after any warning an earlier test caused
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const lines = () => warn.mock.calls.map((c) => String(c[0])).filter((line) => line.startsWith("berth OPEN MODE"));

    warnOpen(request("/v2/a/manifests/v1"));
    expect(lines()).toEqual(["berth OPEN MODE (no authentication): GET /v2/a/manifests/v1"]);
    for (let i = 0; i < 50; i++) warnOpen(request("/v2/a/blobs/sha256:00"));
    warnOpen(request("/api/v1/images")); // not a registry request: not counted
    expect(lines()).toHaveLength(1);

    now += WARN_INTERVAL_MS;
    warnOpen(request("/v2/"));
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toBe("berth OPEN MODE (no authentication): GET /v2/ and 50 more /v2/ requests since the last warning");
  });
});
