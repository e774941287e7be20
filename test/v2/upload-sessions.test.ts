import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, randomBytes, sha256 } from "../helpers";

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
