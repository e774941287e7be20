import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeScopes, parseChallenge } from "./challenge.mjs";

test("WWW-Authenticate challenges as registries send them", () => {
  const table = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" } },
    ],
    [
      'Bearer realm="https://h/token", service="svc", scope="repository:a/b:pull,push"',
      { scheme: "bearer", params: { realm: "https://h/token", service: "svc", scope: "repository:a/b:pull,push" } },
    ],
    ['Basic realm="berth-test"', { scheme: "basic", params: { realm: "berth-test" } }],
    ["Basic realm=plain", { scheme: "basic", params: { realm: "plain" } }],
    ['Bearer realm="a \\"quoted\\" realm",error="invalid_token"', { scheme: "bearer", params: { realm: 'a "quoted" realm', error: "invalid_token" } }],
  ];
  for (const [header, want] of table) assert.deepEqual(parseChallenge(header), want, header);
  assert.equal(parseChallenge(undefined), undefined);
  assert.equal(parseChallenge(""), undefined);
});

test("scopes merge per resource with sorted actions", () => {
  assert.deepEqual(mergeScopes(["repository:a:pull"], "repository:a:push repository:b:pull"), ["repository:a:pull,push", "repository:b:pull"]);
  assert.deepEqual(mergeScopes(["repository:a:push,pull", "registry:catalog:*"]), ["registry:catalog:*", "repository:a:pull,push"]);
  assert.deepEqual(mergeScopes([], ""), []);
});
