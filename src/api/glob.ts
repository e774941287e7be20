// Shell-style glob patterns for tag filters: `*` any run of characters, `?`
// one character, `[abc]` / `[a-z]` / `[!abc]` a character class, `\x` a
// literal x. The whole tag must match. Matching is the classic single
// backtrack-point algorithm: O(pattern × value), no regular expression, so no
// pattern can make it slow. Pure.

import { OciError } from "../http/errors";
import { compilePattern } from "../registry/glob";

const MAX_PATTERN_LENGTH = 256;

type Token = { kind: "star" } | { kind: "one"; test: (char: string) => boolean };

function invalid(pattern: string, problem: string): OciError {
  return new OciError("TAG_INVALID", `invalid tag pattern "${pattern}": ${problem}`, { pattern }, 400);
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*") {
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (char === "?") {
      tokens.push({ kind: "one", test: () => true });
    } else if (char === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) throw invalid(pattern, "ends with an unfinished escape \\");
      tokens.push({ kind: "one", test: (c) => c === next });
      i++;
    } else if (char === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) throw invalid(pattern, `"[" at position ${i + 1} has no closing "]"`);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      if (body === "") throw invalid(pattern, `empty character class at position ${i + 1}`);
      const singles = new Set<string>();
      const ranges: Array<[string, string]> = [];
      for (let j = 0; j < body.length; j++) {
        const c = body[j]!;
        if (c !== "-" && body[j + 1] === "-" && j + 2 < body.length) {
          const to = body[j + 2]!;
          if (to < c) throw invalid(pattern, `range ${c}-${to} is reversed`);
          ranges.push([c, to]);
          j += 2;
        } else {
          singles.add(c);
        }
      }
      const inClass = (c: string) => singles.has(c) || ranges.some(([from, to]) => c >= from && c <= to);
      tokens.push({ kind: "one", test: negated ? (c) => !inClass(c) : inClass });
      i = end;
    } else {
      tokens.push({ kind: "one", test: (c) => c === char });
    }
  }
  return tokens;
}

/** Compiles a glob to a predicate. Throws TAG_INVALID (400) for malformed patterns. */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (pattern.length > MAX_PATTERN_LENGTH) throw invalid(`${pattern.slice(0, 32)}…`, `longer than ${MAX_PATTERN_LENGTH} characters`);
  const tokens = tokenize(pattern);
  return (value) => {
    let t = 0;
    let v = 0;
    let starToken = -1;
    let starValue = 0;
    while (v < value.length) {
      const token = tokens[t];
      if (token?.kind === "one" && token.test(value[v]!)) {
        t++;
        v++;
      } else if (token?.kind === "star") {
        starToken = t++;
        starValue = v;
      } else if (starToken !== -1) {
        t = starToken + 1;
        v = ++starValue;
      } else {
        return false;
      }
    }
    while (tokens[t]?.kind === "star") t++;
    return t === tokens.length;
  };
}

const MAX_REPOSITORY_GLOB = 128;
const MAX_REPOSITORY_WILDCARDS = 8;

/**
 * A repository-name glob from a query (`*` one segment, `**` any: the retention rules). It
 * becomes a regular expression, so it is kept short enough that no name can make it slow.
 */
export function compileRepositoryGlob(pattern: string): (name: string) => boolean {
  if (pattern.length > MAX_REPOSITORY_GLOB || (pattern.match(/[*?]/g)?.length ?? 0) > MAX_REPOSITORY_WILDCARDS) {
    throw new OciError("NAME_INVALID", `repository pattern "${pattern.slice(0, 40)}": at most ${MAX_REPOSITORY_GLOB} characters and ${MAX_REPOSITORY_WILDCARDS} wildcards`, { pattern }, 400);
  }
  return compilePattern(pattern);
}

/** The literal start every name a repository glob matches shares (narrows a catalog scan). */
export function globPrefix(pattern: string): string {
  return pattern.split(/[*?]/)[0] ?? "";
}
