// A broken configuration fails every route of the Worker, /v2/ included, so a health check
// notices it; the answer names every problem in words.
import { env, createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handle } from "../../src/http/router";

const broken = { ...env, UPSTREAMS: '[{"name":"reg:5000","url":"http://reg:5000"},{"name":"b.io","url":"https://b","tagTTL":5}]', MAX_CHUNK_BYTES: "lots" } as unknown as Env;

describe("a bad configuration", () => {
  it.each([
    ["GET", "/v2/"],
    ["HEAD", "/v2/"],
    ["GET", "/v2/_catalog"],
    ["GET", "/api/v1/repositories"],
    ["GET", "/api/v1/upstreams"],
    ["GET", "/v2/team/app/manifests/v1"],
    ["POST", "/v2/team/app/blobs/uploads/"],
  ])("%s %s answers 500 with every problem named", async (method, path) => {
    const response = await handle(new Request(`http://berth.test${path}`, { method }), broken, createExecutionContext());
    expect(response.status).toBe(500);
    if (method === "HEAD") return;
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]!.code).toBe("INTERNAL");
    const message = body.errors[0]!.message;
    expect(message).toContain('MAX_CHUNK_BYTES "lots" must be a whole number');
    expect(message).toContain('UPSTREAMS[0].name "reg:5000" must not contain a port');
    expect(message).toContain('UPSTREAMS[1] has unknown key "tagTTL"');
  });

  it("the configuration Berth ships with is valid (GET /v2/ → 200)", async () => {
    const response = await handle(new Request("http://berth.test/v2/"), env, createExecutionContext());
    expect(response.status).toBe(200);
  });
});
