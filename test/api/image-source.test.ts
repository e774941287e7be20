// Which repository serves a reference. Upstream repositories are only opened
// here (no request leaves the Worker), so no test reaches a public registry.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { berthHosts, locateImage, normalizedReference, pinnedReference } from "../../src/api/image-source";
import { OciError } from "../../src/http/errors";
import { pushImage } from "../helpers";

const D = `sha256:${"ab".repeat(32)}`;
const request = (host = "berth.test:8443") => new Request(`https://${host}/api/v1/resolve`);

describe("berthHosts", () => {
  it("is the request's host plus loopback names with the same port", () => {
    expect([...berthHosts(request())].sort()).toEqual(["127.0.0.1:8443", "[::1]:8443", "berth.test:8443", "localhost:8443"]);
    expect([...berthHosts(new Request("https://Berth.Example/x"))].sort()).toEqual(["127.0.0.1", "[::1]", "berth.example", "localhost"]);
  });
});

describe("locateImage", () => {
  it.each([
    ["nginx", "docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io"],
    ["nginx:1.27", "docker.io/library/nginx", "docker.io/library/nginx:1.27", "docker.io"],
    ["library/nginx:1.27", "docker.io/library/nginx", "docker.io/library/nginx:1.27", "docker.io"],
    ["docker.io/library/nginx:1.27", "docker.io/library/nginx", "docker.io/library/nginx:1.27", "docker.io"],
    ["index.docker.io/library/nginx", "docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io"],
    ["bitnami/redis:7", "docker.io/bitnami/redis", "docker.io/bitnami/redis:7", "docker.io"],
    ["ghcr.io/org/app:v1", "ghcr.io/org/app", "ghcr.io/org/app:v1", "ghcr.io"],
    ["quay.io/prometheus/node-exporter", "quay.io/prometheus/node-exporter", "quay.io/prometheus/node-exporter:latest", "quay.io"],
    ["registry.k8s.io/pause:3.9", "registry.k8s.io/pause", "registry.k8s.io/pause:3.9", "registry.k8s.io"],
    [`gcr.io/distroless/static@${D}`, "gcr.io/distroless/static", `gcr.io/distroless/static@${D}`, "gcr.io"],
  ])("%s → cached repository %s", async (input, name, normalized, pinHost) => {
    const source = await locateImage(request(), env, input);
    expect(source.repository.kind).toBe("cached");
    expect(source.repository.name).toBe(name);
    expect(normalizedReference(source)).toBe(normalized);
    expect(pinnedReference(source, D)).toBe(`${pinHost}/${name.slice(name.indexOf("/") + 1)}@${D}`);
  });

  it("says what it normalized", async () => {
    const source = await locateImage(request(), env, "nginx");
    expect(source.notes).toEqual([
      "no host given and no repository hosted here by that name; added default host docker.io",
      "added library/ prefix",
      "added default tag latest",
    ]);
    expect(source.route).toBe("Docker Hub (default host): cached repository docker.io/library/nginx");
  });

  it("prefers a hosted repository with the exact path over Docker Hub, for references without host", async () => {
    await pushImage("hosted/first", "v1", ["x"]);
    const source = await locateImage(request(), env, "hosted/first:v1");
    expect(source.repository).toMatchObject({ kind: "hosted", name: "hosted/first" });
    expect(normalizedReference(source)).toBe("berth.test:8443/hosted/first:v1");
    // …but not when the reference names Docker Hub.
    const hub = await locateImage(request(), env, "docker.io/hosted/first:v1");
    expect(hub.repository).toMatchObject({ kind: "cached", name: "docker.io/hosted/first" });
  });

  it("never lets a pushed look-alike of an official image stand in for Docker Hub's (nginx, library/…)", async () => {
    await pushImage("lookalike", "v1", ["x"]);
    await pushImage("library/lookalike", "v1", ["x"]);
    for (const input of ["lookalike:v1", "library/lookalike:v1"]) {
      const source = await locateImage(request(), env, input);
      expect(source.repository, input).toMatchObject({ kind: "cached", name: "docker.io/library/lookalike" });
    }
    // naming this Berth reaches the pushed one
    const hosted = await locateImage(request(), env, "berth.test:8443/lookalike:v1");
    expect(hosted.repository).toMatchObject({ kind: "hosted", name: "lookalike" });
  });

  it("routes this Berth's own host (and its loopback aliases on the same port) to hosted repositories", async () => {
    for (const input of ["berth.test:8443/team/app:v1", "localhost:8443/team/app:v1", "127.0.0.1:8443/team/app"]) {
      const source = await locateImage(request(), env, input);
      expect(source.repository).toMatchObject({ kind: "hosted", name: "team/app" });
    }
    // Through this Berth's host, an upstream-prefixed path is the cached repository.
    const cached = await locateImage(request(), env, "berth.test:8443/ghcr.io/org/app:v1");
    expect(cached.repository).toMatchObject({ kind: "cached", name: "ghcr.io/org/app" });
    expect(pinnedReference(cached, D)).toBe(`berth.test:8443/ghcr.io/org/app@${D}`);
  });

  it.each([
    [null, "REFERENCE_INVALID"],
    ["", "REFERENCE_INVALID"],
    ["UPPER/case", "REFERENCE_INVALID"],
    ["ghcr.io/org/app:", "REFERENCE_INVALID"],
    ["other.example:5000/team/app", "NAME_UNKNOWN"],
  ])("%s → %s", async (input, code) => {
    const error = await locateImage(request(), env, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OciError);
    expect((error as OciError).code).toBe(code);
  });
});
