import { describe, expect, it } from "vitest";
import { call, pushImage, randomBytes, sha256 } from "../helpers";

describe("smoke", () => {
  it("pushes and pulls an image", async () => {
    const image = await pushImage("smoke/app", "v1", ["layer one", "layer two"]);
    const res = await call("GET", "/v2/smoke/app/manifests/v1");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Content-Digest")).toBe(image.digest);
    expect(await sha256(new Uint8Array(await res.arrayBuffer()))).toBe(image.digest);
    const blob = await call("GET", `/v2/smoke/app/blobs/${image.layers[0]!.digest}`);
    expect(blob.status).toBe(200);
    expect(await blob.text()).toBe("layer one");
  });

  it("chunked upload across parts", async () => {
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/smoke/big/blobs/uploads/");
    expect(start.status).toBe(202);
    let location = start.headers.get("Location")!;
    const chunk = 7 * 1024 * 1024;
    for (let at = 0; at < data.length; at += chunk) {
      const part = data.subarray(at, Math.min(at + chunk, data.length));
      const res = await call("PATCH", location, { body: part, headers: { "Content-Range": `${at}-${at + part.length - 1}`, "Content-Length": String(part.length) } });
      expect(res.status, await res.clone().text()).toBe(202);
      location = res.headers.get("Location")!;
    }
    const done = await call("PUT", `${location}?digest=${digest}`);
    expect(done.status, await done.clone().text()).toBe(201);
    const pulled = await call("GET", `/v2/smoke/big/blobs/${digest}`);
    expect(await sha256(new Uint8Array(await pulled.arrayBuffer()))).toBe(digest);
  });
});
