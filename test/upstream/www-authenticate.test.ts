import { describe, expect, it } from "vitest";
import { type Challenge, WwwAuthenticateError, bearerChallenge, hasScheme, parseWwwAuthenticate } from "../../src/upstream/www-authenticate";

const cases: Array<[string, string, Challenge[]]> = [
  [
    "Docker Hub bearer",
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
    [{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" } }],
  ],
  ["basic with realm", 'Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
  ["bare scheme", "Basic", [{ scheme: "basic", params: {} }]],
  ["scheme is case-insensitive, params lowercased", 'BEARER Realm="r", SERVICE=s', [{ scheme: "bearer", params: { realm: "r", service: "s" } }]],
  ["token values unquoted", "Bearer realm=https://x/token,service=svc", [{ scheme: "bearer", params: { realm: "https://x/token", service: "svc" } }]],
  [
    "commas inside quotes belong to the value",
    'Bearer realm="https://x/token",scope="repository:a:pull,push repository:b:pull"',
    [{ scheme: "bearer", params: { realm: "https://x/token", scope: "repository:a:pull,push repository:b:pull" } }],
  ],
  ["escaped quote and backslash", 'Basic realm="say \\"hi\\" \\\\ ok"', [{ scheme: "basic", params: { realm: 'say "hi" \\ ok' } }]],
  ["whitespace around = and commas", 'Bearer realm = "r" ,  service= "s"', [{ scheme: "bearer", params: { realm: "r", service: "s" } }]],
  [
    "two challenges",
    'Bearer realm="https://ghcr.io/token",service="ghcr.io", Basic realm="GitHub Package Registry"',
    [
      { scheme: "bearer", params: { realm: "https://ghcr.io/token", service: "ghcr.io" } },
      { scheme: "basic", params: { realm: "GitHub Package Registry" } },
    ],
  ],
  [
    "RFC 9110 example",
    'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
    [
      { scheme: "newauth", params: { realm: "apps", type: "1", title: 'Login to "apps"' } },
      { scheme: "basic", params: { realm: "simple" } },
    ],
  ],
  ["bare scheme then another", "Basic, Bearer realm=r", [{ scheme: "basic", params: {} }, { scheme: "bearer", params: { realm: "r" } }]],
  ["token68", "Negotiate abc+/d==", [{ scheme: "negotiate", params: {}, token68: "abc+/d==" }]],
  ["token68 then challenge", "Negotiate abc==, Basic realm=x", [{ scheme: "negotiate", params: {}, token68: "abc==" }, { scheme: "basic", params: { realm: "x" } }]],
  ["bearer with error", 'Bearer realm="r",error="insufficient_scope"', [{ scheme: "bearer", params: { realm: "r", error: "insufficient_scope" } }]],
  ["duplicate param keeps the first", 'Bearer realm="a", realm="b"', [{ scheme: "bearer", params: { realm: "a" } }]],
  ["empty quoted value", 'Bearer realm="",service=s', [{ scheme: "bearer", params: { realm: "", service: "s" } }]],
  ["empty header", "", []],
  ["leading commas and spaces", " ,, Basic realm=x", [{ scheme: "basic", params: { realm: "x" } }]],
  [
    "two header lines joined by Headers.get",
    'Basic realm="a", Bearer realm="https://t/token",service="s"',
    [{ scheme: "basic", params: { realm: "a" } }, { scheme: "bearer", params: { realm: "https://t/token", service: "s" } }],
  ],
];

describe("parseWwwAuthenticate", () => {
  it.each(cases)("%s", (_name, header, expected) => {
    expect(parseWwwAuthenticate(header)).toEqual(expected);
  });

  it.each([
    ["unterminated quote", 'Bearer realm="https://x'],
    ["trailing backslash in quotes", 'Basic realm="x\\'],
    ["quoted string where a scheme belongs", '"Bearer" realm=x'],
  ])("rejects %s", (_name, header) => {
    expect(() => parseWwwAuthenticate(header)).toThrow(WwwAuthenticateError);
  });
});

describe("bearerChallenge", () => {
  it.each<[string, string, ReturnType<typeof bearerChallenge>]>([
    ["picks the bearer among several", 'Basic realm=x, Bearer realm="https://t",service=s,scope="repository:a:pull"', { realm: "https://t", service: "s", scope: "repository:a:pull" }],
    ["skips a bearer without realm", 'Bearer service=s, Bearer realm="https://t"', { realm: "https://t" }],
    ["none for basic only", "Basic realm=x", undefined],
    ["keeps the error", 'Bearer realm="r",error="invalid_token"', { realm: "r", error: "invalid_token" }],
  ])("%s", (_name, header, expected) => {
    expect(bearerChallenge(parseWwwAuthenticate(header))).toEqual(expected);
  });

  it("hasScheme is case-insensitive", () => {
    const challenges = parseWwwAuthenticate('BASIC realm="x"');
    expect(hasScheme(challenges, "Basic")).toBe(true);
    expect(hasScheme(challenges, "bearer")).toBe(false);
  });
});
