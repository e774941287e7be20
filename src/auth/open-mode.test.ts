import { afterEach, describe, expect, it, vi } from "vitest";
import { warnOpen } from "./open-mode";

const request = (path: string) => new Request(`https://berth.test${path}`);

describe("warnOpen", () => {
  afterEach(() => vi.restoreAllMocks());

  it("names every /v2/ request in a warning line, and only /v2/ requests", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const lines = () => warn.mock.calls.map((c) => String(c[0])).filter((line) => line.startsWith("berth OPEN MODE"));

    warnOpen(request("/v2/a/manifests/v1"));
    for (let i = 0; i < 3; i++) warnOpen(request("/v2/a/blobs/sha256:00"));
    warnOpen(request("/api/v1/images"));
    warnOpen(request("/v2"));
    expect(lines()).toEqual([
      "berth OPEN MODE (no authentication): GET /v2/a/manifests/v1",
      ...Array(3).fill("berth OPEN MODE (no authentication): GET /v2/a/blobs/sha256:00"),
      "berth OPEN MODE (no authentication): GET /v2",
    ]);
  });
});
