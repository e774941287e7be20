import { describe, expect, it } from "vitest";
import { OciError } from "../http/errors";
import { formatPinnedReference, formatReference, parseReference, type ParsedReference } from "./reference";

const D = `sha256:${"0123456789abcdef".repeat(4)}`;
const D512 = `sha512:${"fedcba9876543210".repeat(8)}`;

type Expected = Omit<ParsedReference, "notes"> & { notes?: string[] };

// [input, options, expected]
const valid: Array<[string, { defaultHost?: string } | undefined, Expected]> = [
  [
    "nginx",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "latest",
      normalized: "docker.io/library/nginx:latest",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix", "added default tag latest"],
    },
  ],
  [
    "nginx:1.27",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "1.27",
      normalized: "docker.io/library/nginx:1.27",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix"],
    },
  ],
  [
    "library/nginx",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "latest",
      normalized: "docker.io/library/nginx:latest",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added default tag latest"],
    },
  ],
  [
    "bitnami/redis:7.2",
    undefined,
    { host: "docker.io", repository: "bitnami/redis", tag: "7.2", normalized: "docker.io/bitnami/redis:7.2", hostIsDefault: true, notes: ["added default host docker.io"] },
  ],
  [
    "docker.io/library/nginx:1.27",
    undefined,
    { host: "docker.io", repository: "library/nginx", tag: "1.27", normalized: "docker.io/library/nginx:1.27", hostIsDefault: false, notes: [] },
  ],
  [
    "docker.io/nginx",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "latest",
      normalized: "docker.io/library/nginx:latest",
      hostIsDefault: false,
      notes: ["added library/ prefix", "added default tag latest"],
    },
  ],
  [
    "index.docker.io/library/nginx:1.27",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "1.27",
      normalized: "docker.io/library/nginx:1.27",
      hostIsDefault: false,
      notes: ["rewrote host index.docker.io to docker.io"],
    },
  ],
  [
    "index.docker.io/nginx",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "latest",
      normalized: "docker.io/library/nginx:latest",
      hostIsDefault: false,
      notes: ["rewrote host index.docker.io to docker.io", "added library/ prefix", "added default tag latest"],
    },
  ],
  [
    "registry-1.docker.io/grafana/grafana:11.0.0",
    undefined,
    {
      host: "docker.io",
      repository: "grafana/grafana",
      tag: "11.0.0",
      normalized: "docker.io/grafana/grafana:11.0.0",
      hostIsDefault: false,
      notes: ["rewrote host registry-1.docker.io to docker.io"],
    },
  ],
  [
    "Docker.IO/nginx:1",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "1",
      normalized: "docker.io/library/nginx:1",
      hostIsDefault: false,
      notes: ["lowercased host Docker.IO to docker.io", "added library/ prefix"],
    },
  ],
  [
    "ghcr.io/org/app:v1",
    undefined,
    { host: "ghcr.io", repository: "org/app", tag: "v1", normalized: "ghcr.io/org/app:v1", hostIsDefault: false, notes: [] },
  ],
  // Only docker.io gets library/.
  [
    "ghcr.io/app",
    undefined,
    { host: "ghcr.io", repository: "app", tag: "latest", normalized: "ghcr.io/app:latest", hostIsDefault: false, notes: ["added default tag latest"] },
  ],
  [
    "GHCR.io/org/app",
    undefined,
    {
      host: "ghcr.io",
      repository: "org/app",
      tag: "latest",
      normalized: "ghcr.io/org/app:latest",
      hostIsDefault: false,
      notes: ["lowercased host GHCR.io to ghcr.io", "added default tag latest"],
    },
  ],
  [
    "localhost:8787/team/app:dev",
    undefined,
    { host: "localhost:8787", repository: "team/app", tag: "dev", normalized: "localhost:8787/team/app:dev", hostIsDefault: false, notes: [] },
  ],
  [
    "localhost/app",
    undefined,
    { host: "localhost", repository: "app", tag: "latest", normalized: "localhost/app:latest", hostIsDefault: false, notes: ["added default tag latest"] },
  ],
  // A port alone makes a host ("contains :").
  [
    "registry:5000/app",
    undefined,
    { host: "registry:5000", repository: "app", tag: "latest", normalized: "registry:5000/app:latest", hostIsDefault: false, notes: ["added default tag latest"] },
  ],
  [
    "127.0.0.1:5000/a/b/c:1.0-rc.1",
    undefined,
    { host: "127.0.0.1:5000", repository: "a/b/c", tag: "1.0-rc.1", normalized: "127.0.0.1:5000/a/b/c:1.0-rc.1", hostIsDefault: false, notes: [] },
  ],
  [
    "[::1]:5000/app:x",
    undefined,
    { host: "[::1]:5000", repository: "app", tag: "x", normalized: "[::1]:5000/app:x", hostIsDefault: false, notes: [] },
  ],
  [
    "[fe80::1]/app",
    undefined,
    { host: "[fe80::1]", repository: "app", tag: "latest", normalized: "[fe80::1]/app:latest", hostIsDefault: false, notes: ["added default tag latest"] },
  ],
  // Without a slash there is no host: "localhost:8787" is the image localhost, tag 8787 (as docker).
  [
    "localhost:8787",
    undefined,
    {
      host: "docker.io",
      repository: "library/localhost",
      tag: "8787",
      normalized: "docker.io/library/localhost:8787",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix"],
    },
  ],
  // A dotted single segment is a path, not a host.
  [
    "ghcr.io",
    undefined,
    {
      host: "docker.io",
      repository: "library/ghcr.io",
      tag: "latest",
      normalized: "docker.io/library/ghcr.io:latest",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix", "added default tag latest"],
    },
  ],
  // A first component without "." or ":" and not "localhost" is a namespace.
  [
    "myregistry/app",
    undefined,
    { host: "docker.io", repository: "myregistry/app", tag: "latest", normalized: "docker.io/myregistry/app:latest", hostIsDefault: true, notes: ["added default host docker.io", "added default tag latest"] },
  ],
  // Digests: no default tag when pinned.
  [
    `nginx@${D}`,
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      digest: D,
      normalized: `docker.io/library/nginx@${D}`,
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix"],
    },
  ],
  [
    `nginx:1.27@${D}`,
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "1.27",
      digest: D,
      normalized: `docker.io/library/nginx:1.27@${D}`,
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix"],
    },
  ],
  [
    `localhost:8787/team/app:dev@${D}`,
    undefined,
    { host: "localhost:8787", repository: "team/app", tag: "dev", digest: D, normalized: `localhost:8787/team/app:dev@${D}`, hostIsDefault: false, notes: [] },
  ],
  [
    `ghcr.io/org/app@${D512}`,
    undefined,
    { host: "ghcr.io", repository: "org/app", digest: D512, normalized: `ghcr.io/org/app@${D512}`, hostIsDefault: false, notes: [] },
  ],
  // Name grammar edge cases that are valid.
  [
    "a__b/c_d/e.f/g--h---i:T_a.g-1",
    undefined,
    {
      host: "docker.io",
      repository: "a__b/c_d/e.f/g--h---i",
      tag: "T_a.g-1",
      normalized: "docker.io/a__b/c_d/e.f/g--h---i:T_a.g-1",
      hostIsDefault: true,
      notes: ["added default host docker.io"],
    },
  ],
  [
    `app:_${"x".repeat(127)}`,
    undefined,
    {
      host: "docker.io",
      repository: "library/app",
      tag: `_${"x".repeat(127)}`,
      normalized: `docker.io/library/app:_${"x".repeat(127)}`,
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix"],
    },
  ],
  [
    "  nginx:1.27\n",
    undefined,
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "1.27",
      normalized: "docker.io/library/nginx:1.27",
      hostIsDefault: true,
      notes: ["trimmed surrounding whitespace", "added default host docker.io", "added library/ prefix"],
    },
  ],
  // defaultHost: used when no host is named; library/ only for docker.io.
  [
    "team/app",
    { defaultHost: "berth.example.com" },
    {
      host: "berth.example.com",
      repository: "team/app",
      tag: "latest",
      normalized: "berth.example.com/team/app:latest",
      hostIsDefault: true,
      notes: ["added default host berth.example.com", "added default tag latest"],
    },
  ],
  [
    "app:1",
    { defaultHost: "localhost:8787" },
    { host: "localhost:8787", repository: "app", tag: "1", normalized: "localhost:8787/app:1", hostIsDefault: true, notes: ["added default host localhost:8787"] },
  ],
  [
    "ghcr.io/org/app:v1",
    { defaultHost: "berth.example.com" },
    { host: "ghcr.io", repository: "org/app", tag: "v1", normalized: "ghcr.io/org/app:v1", hostIsDefault: false, notes: [] },
  ],
  [
    "nginx",
    { defaultHost: "index.docker.io" },
    {
      host: "docker.io",
      repository: "library/nginx",
      tag: "latest",
      normalized: "docker.io/library/nginx:latest",
      hostIsDefault: true,
      notes: ["added default host docker.io", "added library/ prefix", "added default tag latest"],
    },
  ],
];

describe("parseReference: valid references", () => {
  it.each(valid)("%j (options %j)", (input, options, expected) => {
    const { notes, ...rest } = expected;
    const parsed = parseReference(input, options);
    expect(parsed).toEqual({ ...rest, notes: notes ?? [] });
    // The normalized form is a fixed point: parsing it again changes nothing.
    const again = parseReference(parsed.normalized);
    expect(again.normalized).toBe(parsed.normalized);
    expect(again.hostIsDefault).toBe(false);
  });
});

// [input, options, fragment the message must contain]
const invalid: Array<[string, { defaultHost?: string } | undefined, string]> = [
  ["", undefined, "reference is empty"],
  ["   ", undefined, "reference is empty"],
  ["ngi nx", undefined, "must not contain whitespace"],
  ["Nginx", undefined, 'repository path "Nginx" must be lowercase'],
  ["library/Nginx:1", undefined, 'repository path "library/Nginx" must be lowercase'],
  ["MyOrg/app", undefined, 'repository path "MyOrg/app" must be lowercase'],
  ["ghcr.io/Org/app", undefined, 'repository path "Org/app" must be lowercase'],
  ["nginx:", undefined, 'tag after ":" is empty'],
  ["nginx:.hidden", undefined, 'tag ".hidden" is invalid'],
  ["nginx:-x", undefined, 'tag "-x" is invalid'],
  ["nginx:a+b", undefined, 'tag "a+b" is invalid'],
  [`nginx:${"x".repeat(129)}`, undefined, "is invalid: a tag is 1 to 128 characters"],
  ["foo/bar:baz/qux", undefined, 'tag "baz/qux" is invalid'],
  ["nginx@", undefined, 'digest after "@" is empty'],
  [`@${D}`, undefined, 'repository name before "@" is empty'],
  ["nginx@sha256:abc", undefined, 'invalid sha256 digest "sha256:abc"'],
  [`nginx@md5:${"a".repeat(32)}`, undefined, 'unsupported digest algorithm "md5"'],
  [`nginx@sha256:${"A".repeat(64)}`, undefined, "invalid sha256 digest"],
  ["nginx@latest", undefined, 'invalid digest "latest"'],
  [`nginx@${D}@${D}`, undefined, 'only one "@digest" is allowed'],
  ["ghcr.io/", undefined, "repository path is empty"],
  ["ghcr.io/:tag", undefined, "repository path is empty"],
  ["a//b", undefined, "has an empty component"],
  ["a/b/", undefined, "has an empty component"],
  ["-app", undefined, 'path component "-app" is invalid'],
  ["app-", undefined, 'path component "app-" is invalid'],
  ["a___b", undefined, 'path component "a___b" is invalid'],
  ["a..b", undefined, 'path component "a..b" is invalid'],
  ["ghcr.io/org/.app", undefined, 'path component ".app" is invalid'],
  ["a/b!c", undefined, 'path component "b!c" is invalid'],
  ["-bad.host/app", undefined, '"-bad.host" is not a valid registry host[:port]'],
  ["bad_host.io/app", undefined, '"bad_host.io" is not a valid registry host[:port]'],
  ["host.io:port/app", undefined, '"host.io:port" is not a valid registry host[:port]'],
  ["host.io:/app", undefined, '"host.io:" is not a valid registry host[:port]'],
  ["[::1/app", undefined, "is not a valid registry host[:port]"],
  ["0123456789abcdef".repeat(4), undefined, "is an image ID, not a reference"],
  [`ghcr.io/${"a".repeat(248)}`, undefined, "is 256 characters; the limit is 255"],
  [`${"a".repeat(245)}`, undefined, "is 263 characters; the limit is 255"],
  ["app", { defaultHost: "not a host" }, 'default host "not a host" is not a valid host'],
];

describe("parseReference: invalid references", () => {
  it.each(invalid)("%j (options %j) → %s", (input, options, fragment) => {
    let caught: unknown;
    try {
      parseReference(input, options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OciError);
    const error = caught as OciError;
    expect(error.code).toBe("REFERENCE_INVALID");
    expect(error.status).toBe(400);
    expect(error.message).toContain(fragment);
    expect(error.message).toContain(`invalid reference "${input}"`);
  });

  it("accepts a full name of exactly 255 characters", () => {
    const name = `ghcr.io/${"a".repeat(247)}`;
    expect(name.length).toBe(255);
    expect(parseReference(name).repository).toBe("a".repeat(247));
  });
});

describe("formatReference / formatPinnedReference", () => {
  const rows: Array<[Parameters<typeof formatReference>[0], string]> = [
    [{ host: "docker.io", repository: "library/nginx" }, "docker.io/library/nginx"],
    [{ host: "docker.io", repository: "library/nginx", tag: "1.27" }, "docker.io/library/nginx:1.27"],
    [{ host: "ghcr.io", repository: "o/a", digest: D }, `ghcr.io/o/a@${D}`],
    [{ host: "localhost:8787", repository: "t/a", tag: "dev", digest: D }, `localhost:8787/t/a:dev@${D}`],
  ];
  it.each(rows)("formatReference(%j) = %s", (ref, expected) => {
    expect(formatReference(ref)).toBe(expected);
  });

  it.each([
    ["nginx:1.27", `docker.io/library/nginx@${D}`],
    [`nginx:1.27@${D512}`, `docker.io/library/nginx@${D}`],
    ["localhost:8787/team/app:dev", `localhost:8787/team/app@${D}`],
    ["index.docker.io/grafana/grafana", `docker.io/grafana/grafana@${D}`],
  ])("pins %s to %s", (input, expected) => {
    const pinned = formatPinnedReference(parseReference(input), D);
    expect(pinned).toBe(expected);
    expect(parseReference(pinned)).toMatchObject({ digest: D, notes: [] });
    expect(parseReference(pinned).tag).toBeUndefined();
  });

  it.each(["", "latest", "sha256:abc", `SHA256:${"a".repeat(64)}`])("refuses to pin with digest %j", (digest) => {
    expect(() => formatPinnedReference({ host: "ghcr.io", repository: "o/a" }, digest)).toThrowError(
      expect.objectContaining({ code: "REFERENCE_INVALID", message: expect.stringContaining("cannot pin ghcr.io/o/a") }),
    );
  });
});
