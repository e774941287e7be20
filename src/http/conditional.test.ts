import { describe, expect, it } from "vitest";
import { ifNoneMatch } from "./conditional";

const ETAG = '"sha256:abc"';
const ask = (header: string | null) => ifNoneMatch(new Request("https://berth.test/", header === null ? {} : { headers: { "If-None-Match": header } }), ETAG);

describe("If-None-Match (RFC 9110 §13.1.2, weak comparison)", () => {
  it.each([
    '"sha256:abc"',
    'W/"sha256:abc"',
    "*",
    " * ",
    '"other", "sha256:abc"',
    '"other","sha256:abc"',
    'W/"other" ,W/"sha256:abc"',
    '"sha256:abc", , "other"',
    '"a,b", "sha256:abc"',
    '"sha256:abc",',
  ])("%s matches", (header) => {
    expect(ask(header)).toBe(true);
  });

  it.each([null, "", '"other"', "sha256:abc", '"sha256:ABC"', '"sha256:abc', 'w/"sha256:abc"', '"a,"sha256:abc"', "*, \"other\"", '"other" "sha256:abc"', 'X"sha256:abc"'])(
    "%j does not match",
    (header) => {
      expect(ask(header)).toBe(false);
    },
  );
});
