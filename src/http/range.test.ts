import { describe, expect, it } from "vitest";
import { OciError } from "./errors";
import { parseRange } from "./range";

describe("parseRange (RFC 9110 §14)", () => {
  it.each([
    ["bytes=0-9", { start: 0, end: 9 }],
    ["bytes=90-", { start: 90, end: 99 }],
    ["bytes=-5", { start: 95, end: 99 }],
    ["bytes=-500", { start: 0, end: 99 }],
    ["bytes=95-500", { start: 95, end: 99 }],
    ["bytes=0-99999999999999999999999", { start: 0, end: 99 }],
    ["BYTES=1-2", { start: 1, end: 2 }],
    [" bytes=3-4 ", { start: 3, end: 4 }],
  ])("%s → a range", (header, range) => {
    expect(parseRange(header, 100)).toEqual(range);
  });

  it.each([null, "", "bytes=abc", "bytes=-", "bytes=", "bytes", "bytes=1-2-3", "bytes=a-5", "bytes=5-b", "bytes=0x10-", "bytes= 1-2", "bytes=1 - 2", "items=0-5", "=0-5", "bytes=0-1,5-6", "bytes=abc,def", "bytes=0-1,", "\u00e9"])(
    "%j is not one byte range: ignored, the whole blob",
    (header) => {
      expect(parseRange(header, 100)).toBeUndefined();
    },
  );

  it.each([
    ["bytes=100-", 100],
    ["bytes=500-0", 100],
    ["bytes=5-3", 100],
    ["bytes=-0", 100],
    ["bytes=0-", 0],
    ["bytes=-1", 0],
    ["bytes=99999999999999999999-", 100],
  ])("%s of %i bytes is unsatisfiable: 416 with Content-Range bytes */size", (header, size) => {
    let error: unknown;
    try {
      parseRange(header, size);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OciError);
    expect((error as OciError).status).toBe(416);
    expect((error as OciError).headers).toEqual({ "Content-Range": `bytes */${size}` });
  });
});
