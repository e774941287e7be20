import { describe, expect, it } from "vitest";
import { call, errorCode, pushBlob, randomBytes, sha256, sha512 } from "../helpers";

describe("blob uploads", () => {
  it("monolithic POST ?digest= stores the blob and answers 201 with its location", async () => {
    const data = randomBytes(1000, 7);
    const digest = await sha256(data);
    const res = await call("POST", `/v2/up/mono/blobs/uploads/?digest=${digest}`, { body: data });
    expect(res.status).toBe(201);
    expect(res.headers.get("Location")).toBe(`/v2/up/mono/blobs/${digest}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    const head = await call("HEAD", `/v2/up/mono/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe("1000");
  });

  it("monolithic POST with a wrong digest stores nothing", async () => {
    const wrong = await sha256("something else");
    const res = await call("POST", `/v2/up/wrong/blobs/uploads/?digest=${wrong}`, { body: "actual bytes" });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("DIGEST_INVALID");
    expect((await call("HEAD", `/v2/up/wrong/blobs/${wrong}`)).status).toBe(404);
  });

  it("POST + PUT with the whole body (no PATCH)", async () => {
    const data = randomBytes(5000, 3);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/up/put-only/blobs/uploads/");
    expect(start.status).toBe(202);
    expect(start.headers.get("Docker-Upload-UUID")).toBeTruthy();
    expect(start.headers.get("OCI-Chunk-Min-Length")).toBe("0");
    expect(Number(start.headers.get("OCI-Chunk-Max-Length"))).toBeGreaterThan(0);
    const done = await call("PUT", `${start.headers.get("Location")}?digest=${digest}`, { body: data, headers: { "Content-Length": "5000" } });
    expect(done.status).toBe(201);
    expect(await sha256(new Uint8Array(await (await call("GET", `/v2/up/put-only/blobs/${digest}`)).arrayBuffer()))).toBe(digest);
  });

  it("PATCH without Content-Range appends; status reports the offset; PUT may carry the last chunk", async () => {
    const data = randomBytes(3000, 5);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/up/append/blobs/uploads/");
    const location = start.headers.get("Location")!;
    const first = await call("PATCH", location, { body: data.subarray(0, 1000) });
    expect(first.status).toBe(202);
    expect(first.headers.get("Range")).toBe("0-999");
    const second = await call("PATCH", location, { body: data.subarray(1000, 2000) });
    expect(second.headers.get("Range")).toBe("0-1999");
    const status = await call("GET", location);
    expect(status.status).toBe(204);
    expect(status.headers.get("Range")).toBe("0-1999");
    const done = await call("PUT", `${location}?digest=${digest}`, { body: data.subarray(2000) });
    expect(done.status).toBe(201);
    const pulled = new Uint8Array(await (await call("GET", `/v2/up/append/blobs/${digest}`)).arrayBuffer());
    expect(await sha256(pulled)).toBe(digest);
    expect((await call("GET", location)).status).toBe(404);
  });

  it("PATCH bodies of unknown length (chunked transfer encoding) work", async () => {
    const data = randomBytes(9 * 1024 * 1024 + 17, 11);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/up/stream/blobs/uploads/");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < data.length; at += 65536) controller.enqueue(data.slice(at, at + 65536));
        controller.close();
      },
    });
    const patch = await call("PATCH", start.headers.get("Location")!, { body: stream });
    expect(patch.status).toBe(202);
    expect(patch.headers.get("Range")).toBe(`0-${data.length - 1}`);
    const done = await call("PUT", `${patch.headers.get("Location")}?digest=${digest}`);
    expect(done.status).toBe(201);
    expect(await sha256(new Uint8Array(await (await call("GET", `/v2/up/stream/blobs/${digest}`)).arrayBuffer()))).toBe(digest);
  });

  it("an out-of-order chunk is 416 and the upload stays resumable", async () => {
    const data = randomBytes(200, 9);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/up/order/blobs/uploads/");
    const location = start.headers.get("Location")!;
    await call("PATCH", location, { body: data.subarray(0, 100), headers: { "Content-Range": "0-99" } });
    const skip = await call("PATCH", location, { body: data.subarray(150), headers: { "Content-Range": "150-199" } });
    expect(skip.status).toBe(416);
    const again = await call("PATCH", location, { body: data.subarray(0, 50), headers: { "Content-Range": "0-49" } });
    expect(again.status).toBe(416);
    expect((await call("GET", location)).headers.get("Range")).toBe("0-99");
    const rest = await call("PATCH", location, { body: data.subarray(100), headers: { "Content-Range": "100-199" } });
    expect(rest.status).toBe(202);
    expect((await call("PUT", `${location}?digest=${digest}`)).status).toBe(201);
  });

  it("a Content-Range that disagrees with the body length is rejected", async () => {
    const start = await call("POST", "/v2/up/badrange/blobs/uploads/");
    const res = await call("PATCH", start.headers.get("Location")!, { body: "12345", headers: { "Content-Range": "0-9", "Content-Length": "5" } });
    expect(res.status).toBe(416);
  });

  it("a wrong digest on the final PUT is DIGEST_INVALID and leaves nothing", async () => {
    const data = randomBytes(10 * 1024 * 1024, 13);
    const start = await call("POST", "/v2/up/bad/blobs/uploads/");
    const location = start.headers.get("Location")!;
    await call("PATCH", location, { body: data });
    const wrong = await sha256("not it");
    const res = await call("PUT", `${location}?digest=${wrong}`);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("DIGEST_INVALID");
    expect((await call("HEAD", `/v2/up/bad/blobs/${wrong}`)).status).toBe(404);
    expect((await call("HEAD", `/v2/up/bad/blobs/${await sha256(data)}`)).status).toBe(404);
    expect((await call("GET", location)).status).toBe(404);
  });

  it("PUT without a digest is DIGEST_INVALID", async () => {
    const start = await call("POST", "/v2/up/nodigest/blobs/uploads/");
    const res = await call("PUT", start.headers.get("Location")!);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("DIGEST_INVALID");
  });

  it("sha512 digests work for monolithic and chunked uploads", async () => {
    const data = randomBytes(9 * 1024 * 1024, 21);
    const digest = await sha512(data);
    const mono = await call("POST", `/v2/up/sha512/blobs/uploads/?digest=${digest}`, { body: data.subarray(0) });
    expect(mono.status).toBe(201);
    const start = await call("POST", "/v2/up/sha512b/blobs/uploads/");
    const patch = await call("PATCH", start.headers.get("Location")!, { body: data });
    const done = await call("PUT", `${patch.headers.get("Location")}?digest=${digest}`);
    expect(done.status).toBe(201);
    const pulled = new Uint8Array(await (await call("GET", `/v2/up/sha512b/blobs/${digest}`)).arrayBuffer());
    expect(await sha512(pulled)).toBe(digest);
    const wrong = await call("POST", "/v2/up/sha512c/blobs/uploads/");
    await call("PATCH", wrong.headers.get("Location")!, { body: data });
    const bad = await call("PUT", `${wrong.headers.get("Location")}?digest=${await sha512("other")}`);
    expect(bad.status).toBe(400);
  });

  it("cancelling an upload forgets it", async () => {
    const start = await call("POST", "/v2/up/cancel/blobs/uploads/");
    const location = start.headers.get("Location")!;
    await call("PATCH", location, { body: "some bytes" });
    expect((await call("DELETE", location)).status).toBe(204);
    expect((await call("GET", location)).status).toBe(404);
    expect((await call("DELETE", location)).status).toBe(404);
  });

  it.each([
    ["GET", "status"],
    ["PATCH", "patch"],
    ["PUT", "put"],
    ["DELETE", "cancel"],
  ])("%s of an unknown upload is BLOB_UPLOAD_UNKNOWN", async (method) => {
    const res = await call(method, `/v2/up/none/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=${await sha256("x")}`, method === "PATCH" ? { body: "x" } : {});
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe("BLOB_UPLOAD_UNKNOWN");
  });
});

describe("blob reads", () => {
  it.each([
    ["bytes=0-9", 206, "bytes 0-9/100", 10],
    ["bytes=90-", 206, "bytes 90-99/100", 10],
    ["bytes=-5", 206, "bytes 95-99/100", 5],
    ["bytes=95-500", 206, "bytes 95-99/100", 5],
    ["bytes=100-", 416, "bytes */100", 0],
    ["bytes=500-0", 416, "bytes */100", 0],
    ["bytes=0-1,5-6", 200, null, 100],
    ["bytes=5-3", 416, "bytes */100", 0],
    ["bytes=abc", 200, null, 100],
    ["bytes=-", 200, null, 100],
    ["items=0-5", 200, null, 100],
  ])("Range %s → %i", async (range, status, contentRange, length) => {
    const data = randomBytes(100, 33);
    const { digest } = await pushBlob("read/range", data);
    const head = await call("HEAD", `/v2/read/range/blobs/${digest}`, { headers: { Range: range } });
    expect(head.status).toBe(status);
    expect(head.headers.get("Content-Range")).toBe(contentRange);
    const res = await call("GET", `/v2/read/range/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(status);
    expect(res.headers.get("Content-Range")).toBe(contentRange);
    if (status !== 416) {
      const body = new Uint8Array(await res.arrayBuffer());
      expect(body.length).toBe(length);
      expect(res.headers.get("Content-Length")).toBe(String(length));
      if (status === 206) {
        const start = Number(contentRange!.split(" ")[1]!.split("-")[0]);
        expect([...body]).toEqual([...data.subarray(start, start + length)]);
      }
    }
  });

  it("blob responses are byte-exact even when the client accepts gzip", async () => {
    const data = new TextEncoder().encode("a".repeat(100_000));
    const { digest } = await pushBlob("read/gzip", data);
    const res = await call("GET", `/v2/read/gzip/blobs/${digest}`, { headers: { "Accept-Encoding": "gzip" } });
    expect(res.headers.get("Content-Encoding")).toBeNull();
    expect(res.headers.get("Content-Length")).toBe("100000");
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
  });

  it.each([
    ["sha256:nothex", 400, "DIGEST_INVALID"],
    ["sha256:abc", 400, "DIGEST_INVALID"],
    ["md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"],
    [`sha256:${"0".repeat(64)}`, 404, "BLOB_UNKNOWN"],
  ])("GET blob %s → %i %s", async (digest, status, code) => {
    const res = await call("GET", `/v2/read/errors/blobs/${digest}`);
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
  });

  it("a blob pushed to one repository is not visible in another until mounted", async () => {
    const { digest } = await pushBlob("read/one", "shared layer");
    expect((await call("HEAD", `/v2/read/two/blobs/${digest}`)).status).toBe(404);
    const mount = await call("POST", `/v2/read/two/blobs/uploads/?mount=${digest}&from=read/one`);
    expect(mount.status).toBe(201);
    expect(mount.headers.get("Location")).toBe(`/v2/read/two/blobs/${digest}`);
    expect(await (await call("GET", `/v2/read/two/blobs/${digest}`)).text()).toBe("shared layer");
  });

  it("a mount from a repository without the blob falls back to an upload (202)", async () => {
    const digest = await sha256("never pushed");
    const res = await call("POST", `/v2/read/three/blobs/uploads/?mount=${digest}&from=read/one`);
    expect(res.status).toBe(202);
    expect(res.headers.get("Location")).toMatch(/^\/v2\/read\/three\/blobs\/uploads\//);
  });

  it("deleting a blob unlinks it from the repository only", async () => {
    const { digest } = await pushBlob("del/a", "to delete");
    await pushBlob("del/b", "to delete");
    expect((await call("DELETE", `/v2/del/a/blobs/${digest}`)).status).toBe(202);
    expect((await call("HEAD", `/v2/del/a/blobs/${digest}`)).status).toBe(404);
    expect((await call("GET", `/v2/del/b/blobs/${digest}`)).status).toBe(200);
    const again = await call("DELETE", `/v2/del/a/blobs/${digest}`);
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe("BLOB_UNKNOWN");
  });
});
