import { describe, expect, it } from "vitest";
import { OciError } from "../../src/http/errors";
import { compileGlob } from "../../src/api/glob";

describe("compileGlob", () => {
  it.each([
    ["*", "anything", true],
    ["*", "", true],
    ["v1.*", "v1.2.3", true],
    ["v1.*", "v1", false],
    ["v1.*", "v10.0", false],
    ["v?", "v1", true],
    ["v?", "v10", false],
    ["*-rc*", "1.0-rc2", true],
    ["*-rc*", "1.0", false],
    ["[0-9]*", "1.27", true],
    ["[0-9]*", "latest", false],
    ["[!0-9]*", "latest", true],
    ["[^0-9]*", "1.0", false],
    ["[abc]", "b", true],
    ["[a-c-]", "-", true],
    ["1.2\\*", "1.2*", true],
    ["1.2\\*", "1.20", false],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "aXXbYY", false],
    ["latest", "latest", true],
    ["latest", "Latest", false],
    [".", "x", false],
  ])("%s matches %s: %s", (pattern, value, expected) => {
    expect(compileGlob(pattern)(value)).toBe(expected);
  });

  it("stays fast on patterns that make backtracking regexes explode", () => {
    const match = compileGlob("*a*a*a*a*a*a*a*a*a*a*a*a*b");
    const started = Date.now();
    expect(match("a".repeat(128))).toBe(false);
    expect(Date.now() - started).toBeLessThan(100);
  });

  it.each([
    ["v[1", 'has no closing "]"'],
    ["v[]", 'has no closing "]"'],
    ["v\\", "unfinished escape"],
    ["[z-a]", "reversed"],
    ["[!]", "empty character class"],
    ["x".repeat(300), "longer than 256"],
  ])("rejects %s", (pattern, words) => {
    let caught: unknown;
    try {
      compileGlob(pattern);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OciError);
    expect((caught as OciError).code).toBe("TAG_INVALID");
    expect((caught as OciError).status).toBe(400);
    expect((caught as OciError).message).toContain(words);
  });
});
