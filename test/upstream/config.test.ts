import { describe, expect, it } from "vitest";
import { loadConfig, validateConfig } from "../../src/config";
import { DEFAULT_UPSTREAMS, type UpstreamsConfig, findUpstream, mirrorTarget, resolveUpstreamName } from "../../src/upstream/config";

/** Local development's access mode, so only the upstream settings vary. */
const withOpenAccess = (env: Record<string, unknown>) => ({ AUTH_MODE: "open", ...env });

/** The upstream part of the one configuration (src/config.ts). */
const parseUpstreams = (env: Record<string, unknown>): UpstreamsConfig => loadConfig(withOpenAccess(env)).upstreams;

/** Every problem reported for `env`, joined as the error message joins them. */
function problemsOf(env: Record<string, unknown>): string {
  const result = validateConfig(withOpenAccess(env));
  return "problems" in result ? result.problems.join("; ") : "";
}

describe("UPSTREAMS and DEFAULT_UPSTREAM", () => {
  it("uses the default list when UPSTREAMS is unset", () => {
    const config = parseUpstreams({});
    expect(config.upstreams.map((u) => u.name)).toEqual(["docker.io", "ghcr.io", "quay.io", "gcr.io", "registry.k8s.io"]);
    expect(config.upstreams.map((u) => u.name)).toEqual(DEFAULT_UPSTREAMS.map((u) => u.name));
    expect(config.defaultUpstream.name).toBe("docker.io");
    const hub = config.upstreams[0]!;
    expect(hub).toEqual({
      name: "docker.io",
      url: "https://registry-1.docker.io",
      aliases: ["index.docker.io", "registry-1.docker.io"],
      tagTtlSeconds: 300,
      timeoutSeconds: 30,
      allowPrivateAddresses: false,
      dockerHub: true,
    });
    expect(config.upstreams.filter((u) => u.dockerHub).map((u) => u.name)).toEqual(["docker.io"]);
    expect(config.upstreams.every((u) => u.credentials === undefined)).toBe(true);
  });

  it("reads a JSON string, resolves credentials from the named secrets and strips trailing slashes", () => {
    const config = parseUpstreams({
      UPSTREAMS: JSON.stringify([
        { name: "docker.io", url: "https://registry-1.docker.io/", usernameSecret: "DOCKERHUB_USERNAME", passwordSecret: "DOCKERHUB_TOKEN", tagTtlSeconds: 60 },
        { name: "Peer.Local", url: "http://127.0.0.1:5000", aliases: ["peer.local:5000"], allowPrivateAddresses: true, timeoutSeconds: 2.5 },
      ]),
      DOCKERHUB_USERNAME: "alice",
      DOCKERHUB_TOKEN: "dckr_pat_x",
      DEFAULT_UPSTREAM: "peer.local:5000",
    });
    expect(config.upstreams[0]).toMatchObject({ url: "https://registry-1.docker.io", tagTtlSeconds: 60, credentials: { username: "alice", password: "dckr_pat_x" } });
    expect(config.upstreams[1]).toMatchObject({ name: "peer.local", aliases: ["peer.local:5000"], allowPrivateAddresses: true, timeoutSeconds: 2.5, dockerHub: false });
    expect(config.defaultUpstream.name).toBe("peer.local");
  });

  it("accepts an already-parsed array (a TOML array of tables in [vars])", () => {
    const config = parseUpstreams({ UPSTREAMS: [{ name: "ghcr.io", url: "https://ghcr.io" }], DEFAULT_UPSTREAM: "ghcr.io" });
    expect(config.upstreams).toHaveLength(1);
    expect(config.defaultUpstream.name).toBe("ghcr.io");
  });

  it("recognises Docker Hub by alias or by URL, not only by name", () => {
    const config = parseUpstreams({
      UPSTREAMS: JSON.stringify([
        { name: "hub", url: "https://registry-1.docker.io" },
        { name: "mirror.example", url: "https://m.example", aliases: ["index.docker.io"] },
        { name: "quay.io", url: "https://quay.io" },
      ]),
      DEFAULT_UPSTREAM: "hub",
    });
    expect(config.upstreams.map((u) => u.dockerHub)).toEqual([true, true, false]);
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ["UPSTREAMS not JSON", { UPSTREAMS: "[{name:" }, /UPSTREAMS is not valid JSON/],
    ["UPSTREAMS not an array", { UPSTREAMS: "{}" }, /UPSTREAMS must be a JSON list of upstreams/],
    ["empty list", { UPSTREAMS: "[]" }, /UPSTREAMS must list at least one upstream/],
    ["missing url", { UPSTREAMS: '[{"name":"docker.io"}]' }, /UPSTREAMS\[0\]\.url is required/],
    ["ftp url", { UPSTREAMS: '[{"name":"docker.io","url":"ftp://x"}]' }, /UPSTREAMS\[0\]\.url "ftp:\/\/x" must be an http\(s\) URL/],
    ["url with query", { UPSTREAMS: '[{"name":"docker.io","url":"https://x/?a=1"}]' }, /UPSTREAMS\[0\]\.url "https:\/\/x\/\?a=1" must be an http\(s\) URL without query/],
    ["url with credentials", { UPSTREAMS: '[{"name":"docker.io","url":"https://u:p@x"}]' }, /UPSTREAMS\[0\]\.url/],
    ["name with a slash", { UPSTREAMS: '[{"name":"docker.io/x","url":"https://x"}]' }, /UPSTREAMS\[0\]\.name "docker.io\/x" must be a host name/],
    // /v2/localhost:5000/x is not a valid repository name: such an upstream could never be reached
    ["name with a port", { UPSTREAMS: '[{"name":"localhost:5000","url":"http://localhost:5000"}]', DEFAULT_UPSTREAM: "localhost:5000" }, /UPSTREAMS\[0\]\.name "localhost:5000" must not contain a port/],
    ["name with two dots in a row", { UPSTREAMS: '[{"name":"a..io","url":"https://x"}]', DEFAULT_UPSTREAM: "a..io" }, /UPSTREAMS\[0\]\.name "a..io" must be a host name without a port/],
    ["bad alias", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","aliases":["ok.io","no pe"]}]' }, /UPSTREAMS\[0\]\.aliases\[1\] "no pe" must be a host name/],
    ["negative ttl", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","tagTtlSeconds":-1}]' }, /UPSTREAMS\[0\]\.tagTtlSeconds/],
    ["ttl as string", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","tagTtlSeconds":"300"}]' }, /UPSTREAMS\[0\]\.tagTtlSeconds "300" must be a number, not a string/],
    ["unknown key (typo)", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","tagTTL":5}]' }, /UPSTREAMS\[0\] has unknown key "tagTTL"/],
    ["password written inline", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","password":"hunter2"}]' }, /UPSTREAMS\[0\] has unknown key "password"/],
    [
      "second entry wrong",
      { UPSTREAMS: '[{"name":"docker.io","url":"https://x"},{"name":"ghcr.io","url":"nope"}]' },
      /UPSTREAMS\[1\]\.url/,
    ],
    ["duplicate name", { UPSTREAMS: '[{"name":"a.io","url":"https://x"},{"name":"a.io","url":"https://y"}]', DEFAULT_UPSTREAM: "a.io" }, /UPSTREAMS\[1\]: "a.io" is already used by UPSTREAMS\[0\]/],
    [
      "alias clashing with another name",
      { UPSTREAMS: '[{"name":"a.io","url":"https://x"},{"name":"b.io","url":"https://y","aliases":["a.io"]}]', DEFAULT_UPSTREAM: "a.io" },
      /"a.io" is already used by UPSTREAMS\[0\]/,
    ],
    ["username secret without password secret", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","usernameSecret":"U"}]', U: "u" }, /UPSTREAMS\[0\]: usernameSecret and passwordSecret must be given together/],
    [
      "secret not set",
      { UPSTREAMS: '[{"name":"docker.io","url":"https://x","usernameSecret":"U","passwordSecret":"P"}]', U: "u" },
      /UPSTREAMS\[0\]\.passwordSecret: secret P is not set/,
    ],
    ["secret name invalid", { UPSTREAMS: '[{"name":"docker.io","url":"https://x","usernameSecret":"no-dash","passwordSecret":"P"}]' }, /UPSTREAMS\[0\]\.usernameSecret "no-dash" must be the name of a secret/],
    ["default upstream unknown", { DEFAULT_UPSTREAM: "example.com" }, /DEFAULT_UPSTREAM "example.com" is not a configured upstream \(configured: docker.io, ghcr.io/],
    ["default upstream not configured in a custom list", { UPSTREAMS: '[{"name":"ghcr.io","url":"https://ghcr.io"}]' }, /DEFAULT_UPSTREAM "docker.io" is not a configured upstream/],
    ["default upstream empty", { DEFAULT_UPSTREAM: " " }, /DEFAULT_UPSTREAM must be the name of a configured upstream/],
  ];
  it.each(bad)("rejects %s", (_name, env, message) => {
    expect(problemsOf(env)).toMatch(message);
    expect(() => loadConfig(withOpenAccess(env))).toThrow(message);
  });

  it("DEFAULT_UPSTREAM may name an alias", () => {
    expect(parseUpstreams({ DEFAULT_UPSTREAM: "index.docker.io" }).defaultUpstream.name).toBe("docker.io");
  });
});

describe("resolveUpstreamName", () => {
  const config: UpstreamsConfig = parseUpstreams({
    UPSTREAMS: JSON.stringify([
      ...DEFAULT_UPSTREAMS,
      { name: "localhost", aliases: ["localhost:5000"], url: "http://127.0.0.1:5000", allowPrivateAddresses: true },
    ]),
  });

  const cases: Array<[string, string, string | undefined, [string, string] | undefined]> = [
    ["prefixed Docker Hub path", "docker.io/library/nginx", undefined, ["docker.io", "library/nginx"]],
    ["one-segment Docker Hub name gets library/", "docker.io/nginx", undefined, ["docker.io", "library/nginx"]],
    ["Docker Hub user repository untouched", "docker.io/bitnami/redis", undefined, ["docker.io", "bitnami/redis"]],
    ["alias index.docker.io", "index.docker.io/nginx", undefined, ["docker.io", "library/nginx"]],
    ["alias registry-1.docker.io", "registry-1.docker.io/library/alpine", undefined, ["docker.io", "library/alpine"]],
    ["ghcr", "ghcr.io/org/app", undefined, ["ghcr.io", "org/app"]],
    ["one-segment name elsewhere is not library/", "ghcr.io/app", undefined, ["ghcr.io", "app"]],
    ["deep path", "quay.io/org/team/app", undefined, ["quay.io", "org/team/app"]],
    ["registry.k8s.io", "registry.k8s.io/pause", undefined, ["registry.k8s.io", "pause"]],
    ["local upstream", "localhost/x/y", undefined, ["localhost", "x/y"]],
    ["containerd ns with a port matches an alias", "x/y", "localhost:5000", ["localhost", "x/y"]],
    ["containerd ns selects Docker Hub", "library/nginx", "docker.io", ["docker.io", "library/nginx"]],
    ["containerd ns with one-segment name", "nginx", "docker.io", ["docker.io", "library/nginx"]],
    ["containerd ns selects ghcr", "org/app", "ghcr.io", ["ghcr.io", "org/app"]],
    ["ns matches an alias, case-insensitive", "alpine", "Index.Docker.IO", ["docker.io", "library/alpine"]],
    ["ns wins over a prefix-looking path", "ghcr.io/x", "docker.io", ["docker.io", "ghcr.io/x"]],
    ["unknown ns falls back to prefix", "ghcr.io/org/app", "unknown.example", ["ghcr.io", "org/app"]],
    ["unknown ns and no prefix: hosted", "org/app", "unknown.example", undefined],
    ["un-prefixed name: hosted or mirror, caller decides", "library/nginx", undefined, undefined],
    ["one segment: hosted", "nginx", undefined, undefined],
    ["prefix alone is a hosted name", "docker.io", undefined, undefined],
    ["prefix with trailing slash only", "docker.io/", undefined, undefined],
    ["unknown host-looking prefix: hosted", "example.com/org/app", undefined, undefined],
    ["empty ns ignored", "docker.io/nginx", "", ["docker.io", "library/nginx"]],
  ];
  it.each(cases)("%s", (_name, path, ns, expected) => {
    const target = resolveUpstreamName(config, path, ns);
    expect(target && [target.upstream.name, target.repository]).toEqual(expected);
  });

  it.each<[string, string]>([
    ["nginx", "library/nginx"],
    ["library/nginx", "library/nginx"],
    ["bitnami/redis", "bitnami/redis"],
  ])("mirrorTarget(%s) → docker.io/%s", (name, repository) => {
    const target = mirrorTarget(config, name);
    expect(target.upstream.name).toBe("docker.io");
    expect(target.repository).toBe(repository);
  });

  it("mirrorTarget uses DEFAULT_UPSTREAM and its own normalization", () => {
    const ghcrDefault = parseUpstreams({ DEFAULT_UPSTREAM: "ghcr.io" });
    expect(mirrorTarget(ghcrDefault, "app")).toMatchObject({ upstream: { name: "ghcr.io" }, repository: "app" });
  });

  it("findUpstream matches names and aliases only", () => {
    expect(findUpstream(config, "REGISTRY-1.docker.io")?.name).toBe("docker.io");
    expect(findUpstream(config, "docker")).toBeUndefined();
  });
});
