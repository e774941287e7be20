import { describe, expect, it } from "vitest";
import { grantedActions, isAdmin, mayPull } from "./grants";
import type { Grant } from "./identity";

const grants: Grant[] = [
  { repositories: "team/**", actions: ["pull", "push"] },
  { repositories: "team/secret/*", actions: ["delete"] },
  { repositories: "public/*", actions: ["pull"] },
  { repositories: "docker.io/**", actions: ["pull"] },
];

describe("grantedActions", () => {
  it.each([
    ["team/app", ["pull", "push"]],
    ["team/a/b/c", ["pull", "push"]],
    ["team/secret/x", ["pull", "push", "delete"]],
    ["team", []],
    ["teams/app", []],
    ["public/app", ["pull"]],
    ["public/a/b", []],
    ["docker.io/library/nginx", ["pull"]],
    ["nginx", []],
    ["other/team/app", []],
  ])("%s → %j", (name, expected) => {
    expect([...grantedActions(grants, name)].sort()).toEqual([...expected].sort());
  });
});

describe("isAdmin / mayPull", () => {
  it.each([
    [[{ repositories: "**", actions: ["admin"] }], true],
    [[{ repositories: "**", actions: ["pull", "push", "delete", "admin"] }], true],
    [[{ repositories: "team/**", actions: ["admin"] }], false],
    [[{ repositories: "**", actions: ["pull", "push", "delete"] }], false],
    [[], false],
  ] as Array<[Grant[], boolean]>)("%j → %s", (list, expected) => {
    expect(isAdmin(list)).toBe(expected);
  });
  it("mayPull is grantedActions has pull", () => {
    expect(mayPull(grants, "team/app")).toBe(true);
    expect(mayPull(grants, "nginx")).toBe(false);
  });
});

describe("names that stand in for another registry", () => {
  it.each([
    [[{ repositories: "**", actions: ["pull", "push", "delete"] }], ["pull", "delete"]],
    [[{ repositories: "*/team/**", actions: ["push"] }], []],
    [[{ repositories: "registry.corp.example/**", actions: ["pull", "push"] }], ["pull", "push"]],
    [[{ repositories: "registry.corp.example/team/app", actions: ["push"] }], ["push"]],
  ] as Array<[Grant[], string[]]>)("%j on registry.corp.example/team/app → %j", (list, expected) => {
    expect([...grantedActions(list, "registry.corp.example/team/app", true)].sort()).toEqual(expected.sort());
    // the same grants on a name that shadows nothing keep push when they match
    expect(grantedActions(list, "registry.corp.example/team/app", false).has("push")).toBe(list.some((g) => g.actions.includes("push")));
  });
});
