import { describe, expect, it } from "vitest";
import { OciError } from "../../src/http/errors";
import { checkTarget, isPrivateHost } from "../../src/upstream/address-policy";

describe("isPrivateHost", () => {
  it.each<[string, boolean]>([
    ["localhost", true],
    ["LOCALHOST.", true],
    ["registry.localhost", true],
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["10.1.2.3", true],
    ["172.16.0.1", true],
    ["172.31.255.255", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["169.254.169.254", true],
    ["100.64.0.1", true],
    ["100.128.0.1", false],
    ["0.0.0.0", true],
    ["224.0.0.1", true],
    ["255.255.255.255", true],
    ["8.8.8.8", false],
    ["104.16.0.1", false],
    ["[::1]", true],
    ["[::]", true],
    ["[fc00::1]", true],
    ["[fd12:3456::1]", true],
    ["[fe80::1]", true],
    ["[ff02::1]", true],
    ["[::ffff:7f00:1]", true],
    ["[::ffff:127.0.0.1]", true],
    ["[::ffff:808:808]", false],
    ["[64:ff9b::a00:1]", true],
    ["[2606:4700::6810:1]", false],
    ["[2001:db8::1]", true],
    ["[not:an:ip:zz]", true],
    ["registry-1.docker.io", false],
    ["production.cloudflare.docker.com", false],
  ])("%s → %s", (host, expected) => {
    expect(isPrivateHost(host)).toBe(expected);
  });
});

describe("checkTarget", () => {
  const strict = { upstream: "docker.io", allowPrivateAddresses: false, what: "redirect" };
  const lax = { ...strict, allowPrivateAddresses: true };

  it.each<[string, string, string | undefined, typeof strict, string | RegExp]>([
    ["absolute https", "https://cdn.example/blob?sig=1", "https://registry-1.docker.io/v2/x", strict, "https://cdn.example/blob?sig=1"],
    ["relative path", "/v2/x/blobs/b", "https://registry-1.docker.io/v2/x/blobs/a", strict, "https://registry-1.docker.io/v2/x/blobs/b"],
    ["ftp refused", "ftp://cdn.example/x", "https://r.example/", strict, /uses ftp: \(only http and https are followed\)/],
    ["javascript refused", "javascript:alert(1)", "https://r.example/", strict, /only http and https/],
    ["downgrade refused", "http://cdn.example/x", "https://r.example/", strict, /downgrades https to http/],
    ["http to http allowed", "http://cdn.example/x", "http://r.example/", strict, "http://cdn.example/x"],
    ["credentials in URL refused", "https://u:p@cdn.example/x", "https://r.example/", strict, /carries credentials/],
    ["loopback refused", "http://127.0.0.1:9000/x", "http://r.example/", strict, /private or loopback address: 127.0.0.1/],
    ["metadata address refused", "http://169.254.169.254/latest", "http://r.example/", strict, /private or loopback/],
    ["hex IPv4 is normalized and refused", "http://0x7f.0.0.1/x", "http://r.example/", strict, /private or loopback address: 127.0.0.1/],
    ["IPv6 loopback refused", "http://[::1]:8080/x", "http://r.example/", strict, /private or loopback/],
    ["loopback allowed when configured", "http://127.0.0.1:9000/x", "http://127.0.0.1:5000/", lax, "http://127.0.0.1:9000/x"],
    ["garbage refused", "http://[zz", "http://r.example/", strict, /is not a valid URL/],
  ])("%s", (_name, location, base, options, expected) => {
    if (typeof expected === "string") {
      expect(checkTarget(location, base, options).toString()).toBe(expected);
      return;
    }
    let error: unknown;
    try {
      checkTarget(location, base, options);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OciError);
    expect((error as OciError).code).toBe("UPSTREAM_UNAVAILABLE");
    expect((error as OciError).status).toBe(502);
    expect((error as OciError).message).toMatch(expected);
    expect((error as OciError).message).toContain("upstream docker.io");
  });
});
