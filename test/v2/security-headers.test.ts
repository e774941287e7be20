// Every answer of the Worker carries X-Content-Type-Options: nosniff (a blob or a JSON body must
// never be sniffed into HTML); the UI's assets carry the Content-Security-Policy of public/_headers.
import { describe, expect, it } from "vitest";
import { call, pushImage, sha256 } from "../helpers";

describe("security headers", () => {
  it("nosniff on every Worker answer: OCI API, errors, uploads, JSON API, HEAD", async () => {
    const image = await pushImage("headers/app", "v1", ["nosniff layer"]);
    const requests: Array<[string, string, number]> = [
      ["GET", "/v2/", 200],
      ["GET", "/v2/headers/app/manifests/v1", 200],
      ["HEAD", "/v2/headers/app/manifests/v1", 200],
      ["GET", `/v2/headers/app/blobs/${image.layers[0]!.digest}`, 200],
      ["GET", `/v2/headers/app/blobs/${await sha256("absent")}`, 404],
      ["GET", "/v2/headers/app/blobs/sha256:nothex", 400],
      ["POST", "/v2/headers/app/blobs/uploads/", 202],
      ["GET", "/v2/headers/app/tags/list", 200],
      ["GET", "/v2/_catalog", 200],
      ["GET", "/v2/no/such/route/at/all", 404],
      ["GET", "/api/v1/repositories", 200],
      ["HEAD", "/api/v1/repositories", 200],
      ["GET", "/api/v1/nothing", 404],
    ];
    for (const [method, path, status] of requests) {
      const response = await call(method, path);
      await response.arrayBuffer();
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers.get("X-Content-Type-Options"), `${method} ${path}`).toBe("nosniff");
      expect(response.headers.get("Docker-Distribution-API-Version"), `${method} ${path}`).toBe("registry/2.0");
    }
  });

  it("blob bodies stay byte-exact with their Content-Length (headers are added without re-encoding)", async () => {
    const image = await pushImage("headers/exact", "v1", ["x".repeat(50_000)]);
    const response = await call("GET", `/v2/headers/exact/blobs/${image.layers[0]!.digest}`, { headers: { "Accept-Encoding": "gzip" } });
    expect(response.headers.get("Content-Encoding")).toBeNull();
    expect(response.headers.get("Content-Length")).toBe("50000");
    expect(await sha256(new Uint8Array(await response.arrayBuffer()))).toBe(image.layers[0]!.digest);
  });
});
