import { describe, expect, it } from "vitest";
import { accessFor, formatScope, mergeScopes, parseScope, parseScopes, toAccessEntry } from "./scope";

describe("parseScope", () => {
  it.each([
    ["repository:team/app:pull", { type: "repository", name: "team/app", actions: ["pull"] }],
    ["repository:team/app:push,pull", { type: "repository", name: "team/app", actions: ["pull", "push"] }],
    ["repository:team/app:pull,pull", { type: "repository", name: "team/app", actions: ["pull"] }],
    ["repository:team/app:*", { type: "repository", name: "team/app", actions: ["pull", "push", "delete"] }],
    ["repository:team/app:delete", { type: "repository", name: "team/app", actions: ["delete"] }],
    ["repository:localhost:5000/app:pull", { type: "repository", name: "localhost:5000/app", actions: ["pull"] }],
    ["repository:team/app:pull,bogus", { type: "repository", name: "team/app", actions: ["pull"] }],
    ["registry:catalog:*", { type: "registry", name: "catalog", actions: ["pull"] }],
    ["registry:admin:*", { type: "registry", name: "admin", actions: ["admin"] }],
  ])("%s", (raw, expected) => {
    expect(parseScope(raw)).toEqual(expected);
  });

  it.each([
    ["", "empty"],
    ["repository", "no fields"],
    ["repository:team/app", "no actions"],
    ["repository::pull", "no name"],
    ["repository:team/app:bogus", "only unknown actions"],
    ["repository:team/app:admin", "admin is not a repository action a token carries"],
    ["repository:team/app:", "empty actions"],
    ["registry:catalog:pull", "the catalog scope is registry:catalog:*"],
    ["registry:other:*", "unknown registry resource"],
    ["user:alice:pull", "unknown type"],
  ])("%s is dropped (%s)", (raw) => {
    expect(parseScope(raw)).toBeNull();
  });
});

describe("parseScopes", () => {
  it("merges repeated scope parameters and OAuth2's space-separated list, dropping bad ones", () => {
    expect(parseScopes(["repository:a:pull", "repository:b:pull repository:a:push", "nonsense", "registry:catalog:*"])).toEqual([
      { type: "repository", name: "a", actions: ["pull", "push"] },
      { type: "repository", name: "b", actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["pull"] },
    ]);
  });
  it("no scope at all is an empty list (a token for /v2/ only)", () => {
    expect(parseScopes([])).toEqual([]);
    expect(mergeScopes([])).toEqual([]);
  });
});

describe("formatScope", () => {
  it.each([
    [{ type: "repository" as const, name: "a/b", actions: ["pull" as const, "push" as const] }, "repository:a/b:pull,push"],
    [{ type: "registry" as const, name: "catalog", actions: ["pull" as const] }, "registry:catalog:*"],
  ])("%j → %s", (scope, text) => {
    expect(formatScope(scope)).toBe(text);
    expect(parseScope(text)).toEqual(scope);
  });
});

describe("toAccessEntry", () => {
  it.each([
    [{ type: "repository" as const, name: "a", actions: ["pull" as const] }, { type: "repository", name: "a", actions: ["pull"] }],
    [{ type: "repository" as const, name: "a", actions: [] }, { type: "repository", name: "a", actions: [] }],
    [{ type: "registry" as const, name: "admin", actions: ["admin" as const] }, { type: "registry", name: "admin", actions: ["*"] }],
    [{ type: "registry" as const, name: "admin", actions: [] }, { type: "registry", name: "admin", actions: [] }],
  ])("%j → %j", (scope, entry) => {
    expect(toAccessEntry(scope)).toEqual(entry);
  });
});

describe("accessFor", () => {
  const access = [
    { type: "repository", name: "a", actions: ["pull"] },
    { type: "repository", name: "a", actions: ["push"] },
    { type: "repository", name: "denied", actions: [] },
    { type: "registry", name: "catalog", actions: ["*"] },
  ];
  it.each([
    ["repository", "a", ["pull", "push"]],
    ["repository", "denied", []],
    ["repository", "b", null],
    ["registry", "catalog", ["*"]],
    ["registry", "a", null],
  ] as const)("%s %s", (type, name, expected) => {
    const found = accessFor(access, type, name);
    expect(found === null ? null : [...found]).toEqual(expected);
  });
});
