import { describe, expect, it } from "vitest";
import { call, pushBlob } from "../helpers";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, apiError, putManifest, pushMultiArch, pushPlatformImage } from "./fixtures";

const HOST = "berth.test";

interface InspectAnswer {
  digest: string;
  pinned: string;
  isIndex: boolean;
  platform: { chosen: string | null; default: boolean };
  index: { manifests: unknown[] } | null;
  image: Record<string, unknown> | null;
  imageNote?: string;
  manifest: {
    Ref: string;
    Descriptor: { mediaType: string; digest: string; size: number; platform?: Record<string, unknown> };
    Raw: string;
    OCIManifest?: Record<string, unknown>;
    SchemaV2Manifest?: Record<string, unknown>;
  };
}

async function inspect(ref: string, extra: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return call("GET", `/api/v1/inspect?${new URLSearchParams({ ref, ...extra })}`, init);
}

async function inspected(ref: string, extra: Record<string, string> = {}): Promise<InspectAnswer> {
  const response = await inspect(ref, extra);
  if (response.status !== 200) throw new Error(`inspect ${ref}: ${response.status} ${await response.text()}`);
  return (await response.json()) as InspectAnswer;
}

function fromBase64(text: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
}

describe("inspect", () => {
  it("shows the config like docker image inspect and the manifest like docker manifest inspect -v", async () => {
    const image = await pushPlatformImage("inspect/single", "v1", { os: "linux", architecture: "amd64" }, "single", {
      config: {
        author: "Berth tests",
        config: {
          User: "app",
          Env: ["PATH=/usr/bin", "MODE=test"],
          Entrypoint: ["/entry"],
          Cmd: ["serve"],
          WorkingDir: "/srv",
          ExposedPorts: { "8080/tcp": {} },
          Labels: { "org.opencontainers.image.title": "single" },
        },
        rootfs: { type: "layers", diff_ids: ["sha256:" + "1".repeat(64), "sha256:" + "2".repeat(64)] },
        history: [{ created: "2024-01-02T03:04:05Z", created_by: "ADD one" }, { created_by: "ADD two", empty_layer: false }],
      },
    });
    const answer = await inspected(`${HOST}/inspect/single:v1`);
    expect(answer.digest).toBe(image.digest);
    expect(answer.index).toBeNull();
    expect(answer.image).toEqual({
      Id: image.config.digest,
      RepoTags: [`${HOST}/inspect/single:v1`],
      RepoDigests: [`${HOST}/inspect/single@${image.digest}`],
      Parent: "",
      Comment: "",
      Created: "2024-01-02T03:04:05Z",
      DockerVersion: "",
      Author: "Berth tests",
      Config: {
        Hostname: "",
        Domainname: "",
        User: "app",
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        ExposedPorts: { "8080/tcp": {} },
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Env: ["PATH=/usr/bin", "MODE=test"],
        Cmd: ["serve"],
        Image: "",
        Volumes: null,
        WorkingDir: "/srv",
        Entrypoint: ["/entry"],
        OnBuild: null,
        Labels: { "org.opencontainers.image.title": "single" },
      },
      Architecture: "amd64",
      Os: "linux",
      Size: image.layers.reduce((sum, l) => sum + l.size, 0),
      RootFS: { Type: "layers", Layers: ["sha256:" + "1".repeat(64), "sha256:" + "2".repeat(64)] },
      History: [{ created: "2024-01-02T03:04:05Z", created_by: "ADD one" }, { created_by: "ADD two", empty_layer: false }],
    });
    expect(answer.manifest.Ref).toBe(`${HOST}/inspect/single:v1`);
    expect(answer.manifest.Descriptor).toEqual({ mediaType: OCI_MANIFEST, digest: image.digest, size: image.size, platform: { architecture: "amd64", os: "linux" } });
    expect(fromBase64(answer.manifest.Raw)).toBe(new TextDecoder().decode(image.bytes));
    expect(answer.manifest.OCIManifest).toEqual(JSON.parse(new TextDecoder().decode(image.bytes)));
    expect(answer.manifest.SchemaV2Manifest).toBeUndefined();
  });

  it("inspects the chosen platform of an index, with the index's descriptor and platform", async () => {
    const multi = await pushMultiArch("inspect/multi", "v1");
    const answer = await inspected(`${HOST}/inspect/multi:v1`, { platform: "linux/arm/v7" });
    expect(answer.isIndex).toBe(true);
    expect(answer.digest).toBe(multi.index.digest);
    expect(answer.index?.manifests).toHaveLength(5);
    expect(answer.image).toMatchObject({ Id: multi.armv7.config.digest, Architecture: "arm", Variant: "v7", Os: "linux", RepoDigests: [`${HOST}/inspect/multi@${multi.index.digest}`] });
    expect(answer.image?.["Config"]).toMatchObject({ Labels: { label: "inspect/multi armv7" } });
    expect(answer.manifest.Ref).toBe(`${HOST}/inspect/multi:v1@${multi.armv7.digest}`);
    expect(answer.manifest.Descriptor).toEqual({ mediaType: OCI_MANIFEST, digest: multi.armv7.digest, size: multi.armv7.size, platform: { architecture: "arm", os: "linux", variant: "v7" } });
    expect(answer.manifest.OCIManifest).toMatchObject({ config: { digest: multi.armv7.config.digest } });
  });

  it("puts a Docker schema 2 manifest under SchemaV2Manifest and pins by digest", async () => {
    const image = await pushPlatformImage("inspect/docker", "v1", { os: "linux", architecture: "amd64" }, "docker", { docker: true });
    const response = await inspect(`${HOST}/inspect/docker@${image.digest}`);
    expect(response.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("ETag")).toBe(`"${image.digest}"`);
    const answer = (await response.json()) as InspectAnswer;
    expect(answer.manifest.SchemaV2Manifest).toMatchObject({ mediaType: DOCKER_MANIFEST });
    expect(answer.manifest.OCIManifest).toBeUndefined();
    expect(answer.image).toMatchObject({ RepoTags: [], RepoDigests: [`${HOST}/inspect/docker@${image.digest}`] });
    const again = await inspect(`${HOST}/inspect/docker@${image.digest}`, {}, { headers: { "If-None-Match": `"${image.digest}"` } });
    expect(again.status).toBe(304);
  });

  it("shows an artifact's manifest and no image", async () => {
    const config = await pushBlob("inspect/artifact", "{}");
    const payload = await pushBlob("inspect/artifact", "chart bytes");
    const pushed = await putManifest("inspect/artifact", "v1", OCI_MANIFEST, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/vnd.cncf.helm.chart.v1",
      config: { mediaType: "application/vnd.cncf.helm.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", ...payload }],
    });
    const answer = await inspected(`${HOST}/inspect/artifact:v1`);
    expect(answer.image).toBeNull();
    expect(answer.imageNote).toContain("application/vnd.cncf.helm.config.v1+json");
    expect(answer.platform.chosen).toBeNull();
    expect(answer.manifest.Descriptor).toEqual({ mediaType: OCI_MANIFEST, digest: pushed.digest, size: pushed.size });
  });

  it("refuses a config larger than 4 MiB without reading it", async () => {
    const big = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", pad: "x".repeat(4 * 1024 * 1024) }));
    const config = await pushBlob("inspect/bigconfig", big);
    await putManifest("inspect/bigconfig", "v1", OCI_MANIFEST, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [],
    });
    const response = await inspect(`${HOST}/inspect/bigconfig:v1`);
    expect(response.status).toBe(400);
    const error = await apiError(response);
    expect(error.code).toBe("MANIFEST_INVALID");
    expect(error.message).toContain("reads configs up to 4194304 bytes");
  });

  it("reports a config that is not JSON", async () => {
    const config = await pushBlob("inspect/badconfig", "not json");
    await putManifest("inspect/badconfig", "v1", OCI_MANIFEST, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [],
    });
    const response = await inspect(`${HOST}/inspect/badconfig:v1`);
    expect(response.status).toBe(400);
    expect((await apiError(response)).message).toContain("is not valid JSON");
  });

  it.each([
    ["", {}, 400, "REFERENCE_INVALID"],
    [`${HOST}/inspect/none:v1`, {}, 404, "NAME_UNKNOWN"],
    [`${HOST}/inspect/errors:v2`, {}, 404, "MANIFEST_UNKNOWN"],
    [`${HOST}/inspect/errors:v1`, { platform: "linux/riscv64" }, 404, "PLATFORM_UNKNOWN"],
    [`${HOST}/inspect/errors:v1`, { platform: "linux/" }, 400, "PLATFORM_UNKNOWN"],
  ] as const)("ref=%s %o → %i %s", async (ref, extra, status, code) => {
    await pushMultiArch("inspect/errors", "v1");
    const response = await inspect(ref, extra);
    expect(response.status).toBe(status);
    expect((await apiError(response)).code).toBe(code);
  });

  it("uses the index media type constant", () => {
    expect(OCI_INDEX).toBe("application/vnd.oci.image.index.v1+json");
  });
});
