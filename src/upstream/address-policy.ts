// Where an upstream may send us: redirect targets and token realms come from the upstream's
// answers, so they are checked before anything is fetched. Only http(s); never from https down
// to http; never to loopback, private, link-local or otherwise non-public literal addresses
// unless the upstream's config allows private addresses. Names are checked literally (Workers
// cannot resolve DNS); the platform itself refuses to connect to private addresses.

import { OciError } from "../http/errors";

/** True for literal IP addresses and names that do not reach the public internet. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const v4 = parseIpv4(host);
  if (v4) return isPrivateIpv4(v4);
  if (host.includes(":")) {
    const v6 = parseIpv6(host);
    return v6 ? isPrivateIpv6(v6) : true;
  }
  return false;
}

/**
 * Resolves `location` against `base` and checks it may be fetched. Throws UPSTREAM_UNAVAILABLE
 * (502) naming the upstream and the refused target.
 */
export function checkTarget(location: string, base: string | undefined, options: { upstream: string; allowPrivateAddresses: boolean; what: string }): URL {
  let url: URL;
  try {
    url = base === undefined ? new URL(location) : new URL(location, base);
  } catch {
    throw refused(options, `is not a valid URL: ${location}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw refused(options, `uses ${url.protocol} (only http and https are followed)`);
  if (base !== undefined && new URL(base).protocol === "https:" && url.protocol === "http:") {
    throw refused(options, `downgrades https to http: ${url.origin}`);
  }
  if (url.username || url.password) throw refused(options, "carries credentials in the URL");
  if (!options.allowPrivateAddresses && isPrivateHost(url.hostname)) {
    throw refused(options, `points to a private or loopback address: ${url.hostname}`);
  }
  return url;
}

function refused(options: { upstream: string; what: string }, why: string): OciError {
  return new OciError("UPSTREAM_UNAVAILABLE", `upstream ${options.upstream}: refused ${options.what}: it ${why}`, { upstream: options.upstream }, 502);
}

function parseIpv4(host: string): number[] | undefined {
  const parts = host.split(".");
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    octets.push(value);
  }
  return octets;
}

function isPrivateIpv4([a = 0, b = 0, c = 0]: number[]): boolean {
  return (
    a === 0 || // "this" network
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 0 && c === 0) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast, reserved, broadcast
  );
}

/** Eight 16-bit groups, or undefined when not an IPv6 literal. */
function parseIpv6(host: string): number[] | undefined {
  let text = host.split("%")[0]!;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const v4 = parseIpv4(text.slice(lastColon + 1));
  if (v4) {
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0]!);
  const rest = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const known = head.length + rest.length + tail.length;
  if (known > 8 || (halves.length === 1 && known !== 8)) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}

function groupsOf(part: string): number[] | undefined {
  if (part === "") return [];
  const groups: number[] = [];
  for (const group of part.split(":")) {
    if (!/^[0-9a-f]{1,4}$/.test(group)) return undefined;
    groups.push(parseInt(group, 16));
  }
  return groups;
}

function isPrivateIpv6(groups: number[]): boolean {
  const [g0 = 0, g1 = 0, , , g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const embeddedV4 = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (groups.slice(0, 5).every((g) => g === 0)) {
    if (g5 === 0xffff) return isPrivateIpv4(embeddedV4); // IPv4-mapped
    if (g5 === 0) return true; // unspecified, loopback, deprecated IPv4-compatible
  }
  if (g0 === 0x64 && g1 === 0xff9b && g4 === 0 && g5 === 0) return isPrivateIpv4(embeddedV4); // NAT64
  return (
    (g0 & 0xfe00) === 0xfc00 || // unique local
    (g0 & 0xffc0) === 0xfe80 || // link-local
    (g0 & 0xff00) === 0xff00 || // multicast
    (g0 === 0x2001 && g1 === 0x0db8) // documentation
  );
}
