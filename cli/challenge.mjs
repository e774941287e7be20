// `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries send them:
// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"`.

/** Parses the first challenge: { scheme (lowercase), params: {realm, service, scope, …} } or undefined. */
export function parseChallenge(header) {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z][A-Za-z0-9._-]*)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params = {};
  const rest = match[2];
  const pattern = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  let m;
  while ((m = pattern.exec(rest)) && m[0] !== "") {
    params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3];
  }
  return { scheme: match[1].toLowerCase(), params };
}

/** Scopes as a set-like sorted list: repository:a:pull + repository:a:push → repository:a:pull,push. */
export function mergeScopes(...lists) {
  const byResource = new Map();
  for (const scope of lists.flat().flatMap((s) => (s ? s.split(" ") : []))) {
    const last = scope.lastIndexOf(":");
    if (last < 0) continue;
    const resource = scope.slice(0, last);
    const actions = byResource.get(resource) ?? new Set();
    for (const action of scope.slice(last + 1).split(",")) if (action) actions.add(action);
    byResource.set(resource, actions);
  }
  return [...byResource.entries()].map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`).sort();
}
