import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, errorCode, randomBytes, sha256 } from "../helpers";
import { PART_SIZE, newUploadSession } from "../../src/registry/upload-session";
import { UploadWriter } from "../../src/registry/upload-writer";
import { READ_SLICE_BYTES } from "../../src/registry/object-reader";

describe("upload sessions", () => {
  it("survive a Durable Object restart between chunks (hash state and parts are persisted)", async () => {
    const data = randomBytes(19 * 1024 * 1024 + 5, 42);
    const digest = await sha256(data);
    const start = await call("POST", "/v2/sessions/restart/blobs/uploads/");
    let location = start.headers.get("Location")!;
    const first = await call("PATCH", location, { body: data.subarray(0, 11 * 1024 * 1024) });
    expect(first.status).toBe(202);
    location = first.headers.get("Location")!;

    await abortAllDurableObjects();

    const status = await call("GET", location);
    expect(status.headers.get("Range")).toBe(`0-${11 * 1024 * 1024 - 1}`);
    const second = await call("PATCH", location, { body: data.subarray(11 * 1024 * 1024) });
    expect(second.status).toBe(202);
    await abortAllDurableObjects();
    const done = await call("PUT", `${location}?digest=${digest}`);
    expect(done.status, await done.clone().text()).toBe(201);
    const pulled = new Uint8Array(await (await call("GET", `/v2/sessions/restart/blobs/${digest}`)).arrayBuffer());
    expect(await sha256(pulled)).toBe(digest);
  });

  it("leave nothing in R2 once finished", async () => {
    const data = randomBytes(9 * 1024 * 1024, 7);
    const start = await call("POST", "/v2/sessions/clean/blobs/uploads/");
    const id = start.headers.get("Docker-Upload-UUID")!;
    const patch = await call("PATCH", start.headers.get("Location")!, { body: data });
    expect((await env.BLOBS.list({ prefix: `uploads/${id}/` })).objects.length).toBeGreaterThan(0);
    expect((await call("PUT", `${patch.headers.get("Location")}?digest=${await sha256(data)}`)).status).toBe(201);
    expect((await env.BLOBS.list({ prefix: `uploads/${id}/` })).objects).toEqual([]);
  });

  it("expire when abandoned: the alarm removes the session and its partial data", async () => {
    const start = await call("POST", "/v2/sessions/abandoned/blobs/uploads/");
    const id = start.headers.get("Docker-Upload-UUID")!;
    const location = start.headers.get("Location")!;
    await call("PATCH", location, { body: randomBytes(1000, 3) });
    expect((await env.BLOBS.list({ prefix: `uploads/${id}/` })).objects.length).toBe(1);

    const stub = env.REPOSITORY.get(env.REPOSITORY.idFromName("sessions/abandoned"));
    // Age the session past the expiry window instead of waiting a day.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE uploads SET updated_at = 0");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call("GET", location)).status).toBe(404);
    expect((await env.BLOBS.list({ prefix: `uploads/${id}/` })).objects).toEqual([]);
  });

  it("refuse a second chunk while one is being received", async () => {
    const start = await call("POST", "/v2/sessions/busy/blobs/uploads/");
    const location = start.headers.get("Location")!;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new Uint8Array(10));
        await gate;
        controller.close();
      },
    });
    const first = call("PATCH", location, { body: slow });
    await new Promise((r) => setTimeout(r, 100));
    const second = await call("PATCH", location, { body: "more" });
    expect(second.status).toBe(416);
    release();
    expect((await first).status).toBe(202);
  });
});

describe("upload correctness", () => {
  it("answers 416 to a closing PUT whose chunk does not start at the offset, and keeps the upload", async () => {
    const data = randomBytes(3000, 11);
    const start = await call("POST", "/v2/sessions/put-range/blobs/uploads/");
    const location = start.headers.get("Location")!;
    expect((await call("PATCH", location, { body: data.subarray(0, 1000) })).status).toBe(202);
    const digest = await sha256(data);
    const wrong = await call("PUT", `${location}?digest=${digest}`, {
      body: data.subarray(1500),
      headers: { "Content-Range": `1500-${data.length - 1}`, "Content-Length": String(data.length - 1500) },
    });
    expect(wrong.status).toBe(416);
    expect((await call("GET", location)).headers.get("Range")).toBe("0-999");
    const right = await call("PUT", `${location}?digest=${digest}`, {
      body: data.subarray(1000),
      headers: { "Content-Range": `1000-${data.length - 1}`, "Content-Length": String(data.length - 1000) },
    });
    expect(right.status, await right.clone().text()).toBe(201);
    const pulled = new Uint8Array(await (await call("GET", `/v2/sessions/put-range/blobs/${digest}`)).arrayBuffer());
    expect(await sha256(pulled)).toBe(digest);
  });

  it("refuses the commit of a writer whose lease was taken over: the blob holds only the new writer's bytes", async () => {
    const name = "sessions/lease";
    const start = await call("POST", `/v2/${name}/blobs/uploads/`);
    const location = start.headers.get("Location")!;
    const stub = env.REPOSITORY.get(env.REPOSITORY.idFromName(name));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stale = randomBytes(9 * 1024 * 1024, 5); // more than a part: the stale writer uploads one
    const slow = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(stale.subarray(0, 10));
        await gate;
        controller.enqueue(stale.subarray(10));
        controller.close();
      },
    });
    const first = call("PATCH", location, { body: slow });
    await new Promise((r) => setTimeout(r, 200));
    // The first writer's lease runs out (15 minutes in real life) …
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE uploads SET busy_until = 1");
    });
    // … and a second request claims the upload and appends its own bytes.
    const fresh = randomBytes(5000, 6);
    const second = await call("PATCH", location, { body: fresh });
    expect(second.status).toBe(202);
    release();
    const late = await first;
    expect(late.status).toBe(409);
    expect(await errorCode(late)).toBe("BLOB_UPLOAD_INVALID");
    expect((await call("GET", location)).headers.get("Range")).toBe(`0-${fresh.length - 1}`);
    const digest = await sha256(fresh);
    const done = await call("PUT", `${location}?digest=${digest}`);
    expect(done.status, await done.clone().text()).toBe(201);
    const pulled = new Uint8Array(await (await call("GET", `/v2/${name}/blobs/${digest}`)).arrayBuffer());
    expect(await sha256(pulled)).toBe(digest);
  });

  it("refuses a closing PUT whose lease was taken over before the upload is assembled", async () => {
    const name = "sessions/lease-put";
    const start = await call("POST", `/v2/${name}/blobs/uploads/`);
    const location = start.headers.get("Location")!;
    const stub = env.REPOSITORY.get(env.REPOSITORY.idFromName(name));
    expect((await call("PATCH", location, { body: randomBytes(100, 1) })).status).toBe(202);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const last = randomBytes(100, 2);
    const slow = new ReadableStream<Uint8Array>({
      async start(controller) {
        await gate;
        controller.enqueue(last);
        controller.close();
      },
    });
    const closing = call("PUT", `${location}?digest=${await sha256(last)}`, { body: slow });
    await new Promise((r) => setTimeout(r, 200));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE uploads SET busy_until = 1");
    });
    release();
    expect((await closing).status).toBe(409);
    expect((await call("GET", location)).headers.get("Range")).toBe("0-99");
  });

  it("fails a body that stops arriving after the idle timeout and frees the upload", async () => {
    const start = await call("POST", "/v2/sessions/idle/blobs/uploads/");
    const location = start.headers.get("Location")!;
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(10));
      },
    });
    const started = Date.now();
    const response = await call("PATCH", location, { body: stalled });
    expect(response.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await call("GET", location)).headers.get("Range")).toBe("0-0");
    expect((await call("PATCH", location, { body: "next" })).status).toBe(202);
  });

  it("holds memory for a part only as data arrives", async () => {
    const writer = await UploadWriter.open(env.BLOBS, newUploadSession(), false);
    expect(writer.capacity).toBe(0);
    await writer.write(new Blob([randomBytes(1000, 9)]).stream());
    expect(writer.capacity).toBeLessThanOrEqual(64 * 1024);
    await writer.write(new Blob([randomBytes(PART_SIZE - 1000 - 1, 9)]).stream());
    expect(writer.capacity).toBe(PART_SIZE);
    await writer.discard();
  });
});

describe("upload hashing", () => {
  // A PATCH without Content-Range is hashed natively (it is usually the whole upload); when more
  // chunks follow after all, the assembled blob is re-read to verify the digest.
  for (const [what, rightDigest] of [["verified by re-reading", true], ["refused on a wrong digest", false]] as const) {
    it(`of an upload that outgrew its natively hashed first PATCH is ${what}`, async () => {
      const name = `sessions/native-then-more-${rightDigest}`;
      const data = randomBytes(PART_SIZE + 3000, 21);
      const start = await call("POST", `/v2/${name}/blobs/uploads/`);
      let location = start.headers.get("Location")!;
      location = (await call("PATCH", location, { body: data.subarray(0, PART_SIZE + 1000) })).headers.get("Location")!;
      location = (await call("PATCH", location, { body: data.subarray(PART_SIZE + 1000) })).headers.get("Location")!;
      const digest = rightDigest ? await sha256(data) : await sha256("something else");
      const done = await call("PUT", `${location}?digest=${digest}`);
      if (!rightDigest) {
        expect(done.status).toBe(400);
        expect(await errorCode(done)).toBe("DIGEST_INVALID");
        expect((await call("HEAD", `/v2/${name}/blobs/${await sha256(data)}`)).status).toBe(404);
        return;
      }
      expect(done.status, await done.clone().text()).toBe(201);
      const pulled = new Uint8Array(await (await call("GET", `/v2/${name}/blobs/${digest}`)).arrayBuffer());
      expect(await sha256(pulled)).toBe(digest);
    });
  }
});

describe("reading large blobs in slices", () => {
  it("gives back a blob larger than a read slice exactly, whole and in ranges across slice boundaries", async () => {
    const name = "sessions/sliced";
    const data = randomBytes(READ_SLICE_BYTES + PART_SIZE + 12345, 31);
    const start = await call("POST", `/v2/${name}/blobs/uploads/`);
    const patched = await call("PATCH", start.headers.get("Location")!, { body: data });
    const digest = await sha256(data);
    expect((await call("PUT", `${patched.headers.get("Location")}?digest=${digest}`)).status).toBe(201);
    const whole = await call("GET", `/v2/${name}/blobs/${digest}`);
    expect(whole.headers.get("Content-Length")).toBe(String(data.length));
    expect(await sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(digest);
    for (const [from, to] of <[number, number][]>[[1, data.length - 2], [READ_SLICE_BYTES - 10, READ_SLICE_BYTES + 10], [READ_SLICE_BYTES, data.length - 1], [0, READ_SLICE_BYTES + 1]]) {
      const part = await call("GET", `/v2/${name}/blobs/${digest}`, { headers: { Range: `bytes=${from}-${to}` } });
      expect(part.status).toBe(206);
      expect(part.headers.get("Content-Length")).toBe(String(to - from + 1));
      expect(await sha256(new Uint8Array(await part.arrayBuffer()))).toBe(await sha256(data.subarray(from, to + 1)));
    }
  });
});
