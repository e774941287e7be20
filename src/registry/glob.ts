// Glob patterns for retention policies. For repository names `*` and `?` stay
// within one path segment and `**` crosses segments (`team/**` matches
// team/a and team/a/b); tags have no `/`, so for them `*` is any run of
// characters. The whole value must match. Patterns come from configuration.

export function compilePattern(pattern: string): (value: string) => boolean {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*" && pattern[i + 1] === "*") {
      // `**/` also matches nothing at all: team/**/app matches team/app.
      if (pattern[i + 2] === "/") {
        source += "(?:.*/)?";
        i += 2;
      } else {
        source += ".*";
        i += 1;
      }
    } else if (char === "*") {
      source += "[^/]*";
    } else if (char === "?") {
      source += "[^/]";
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  const regex = new RegExp(`^${source}$`);
  return (value) => regex.test(value);
}
