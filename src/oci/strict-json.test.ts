import { describe, expect, it } from "vitest";
import { OciError } from "../http/errors";
import { MAX_MANIFEST_DEPTH, parseManifest } from "./manifest";
import { MediaType } from "./media-types";
import { StrictJsonError, checkStrictJson, formatJsonPath } from "./strict-json";

const D = (c: string) => `sha256:${c.repeat(64)}`;

// [text, accepted?, message fragment when refused]
const grammar: Array<[string, boolean, string?]> = [
  ["{}", true],
  ["[]", true],
  ['  {"a": [1, -2.5e+3, 0, 0.1, true, false, null, "x\\u00e9\\n\\"\\\\\\/"]}  ', true],
  ['"just a string"', true],
  ["123", true],
  ['{"a":1,"b":{"a":1}}', true], // equal keys in different objects are fine
  [`{"n": ${"9".repeat(1000)}}`, true], // long numbers are valid JSON
  ['{"a":1,"a":2}', false, 'duplicate key "a"'],
  ['{"a":{"b":1,"b":1}}', false, 'duplicate key "b"'],
  ['[{"x":1},{"x":1,"x":1}]', false, 'duplicate key "x"'],
  ['{"a":1,"\\u0061":2}', false, 'duplicate key "a"'], // escapes are decoded before comparing
  ["\ufeff{}", false, "byte-order mark"],
  ["", false, "unexpected end of input"],
  ["{", false, "expected a key"],
  ['{"a" 1}', false, "expected ':'"],
  ['{"a":1,}', false, "expected a key"],
  ["[1,]", false, "invalid token"],
  ["[1 2]", false, "expected ',' or ']'"],
  ["01", false, "unexpected data after the JSON value"],
  ["-", false, "invalid number"],
  ["1.", false, "unexpected data"],
  ['"\t"', false, "control character"],
  ['"\\x"', false, "invalid escape"],
  ['"\\u12"', false, "invalid \\u escape"],
  ['"abc', false, "unterminated string"],
  ["tru", false, "invalid token"],
  ["{} {}", false, "unexpected data"],
  ["NaN", false, "invalid token"],
];

describe("checkStrictJson", () => {
  it.each(grammar)("%j", (text, accepted, message) => {
    const check = () => checkStrictJson(text, { maxDepth: 8 });
    if (accepted) {
      expect(check).not.toThrow();
      expect(() => JSON.parse(text)).not.toThrow(); // never stricter than the JSON grammar
    } else {
      expect(check).toThrow(StrictJsonError);
      expect(check).toThrow(message);
    }
  });

  it("counts nesting of objects and arrays together", () => {
    const nested = (depth: number) => "[".repeat(depth - 1) + "{}" + "]".repeat(depth - 1);
    expect(() => checkStrictJson(nested(8), { maxDepth: 8 })).not.toThrow();
    expect(() => checkStrictJson(nested(9), { maxDepth: 8 })).toThrow("nesting deeper than 8 levels");
    // A million levels is refused early, without exhausting the stack.
    expect(() => checkStrictJson("[".repeat(1_000_000), { maxDepth: 8 })).toThrow("nesting deeper than 8 levels");
  });

  it("hands each object's keys and path to onObject", () => {
    const seen: Array<[string, string[]]> = [];
    checkStrictJson('{"a":[{"b":1},{"c":{}}],"d":2}', { maxDepth: 8, onObject: (path, keys) => seen.push([formatJsonPath(path), [...keys]]) });
    expect(seen).toEqual([
      ["$.a[0]", ["b"]],
      ["$.a[1].c", []],
      ["$.a[1]", ["c"]],
      ["$", ["a", "d"]],
    ]);
  });

  it("reports where the problem is", () => {
    try {
      checkStrictJson('{"layers":[{"digest":"x","digest":"y"}]}', { maxDepth: 8 });
      expect.unreachable();
    } catch (error) {
      expect(formatJsonPath((error as StrictJsonError).path)).toBe("$.layers[0]");
    }
  });
});

const config = { mediaType: MediaType.OciConfig, digest: D("a"), size: 10 };
const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: D("b"), size: 20 };
const image = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] };
const text = (value: unknown) => JSON.stringify(value);

// [what, body, refused with a message containing … (or null when accepted)]
const manifests: Array<[string, string, string | null]> = [
  ["a plain image", text(image), null],
  ["annotation keys differing only in case (a map: Go compares exactly)", text({ ...image, annotations: { "Org.A": "1", "org.a": "2", Config: "x" } }), null],
  ["Config beside config", text({ ...image, Config: { ...config, digest: D("c") } }), '"Config" is the field "config" in another case'],
  ["Config instead of config", text({ schemaVersion: 2, mediaType: MediaType.OciManifest, Config: config, layers: [layer] }), '"Config" is the field "config"'],
  ["LAYERS beside layers", text({ ...image, LAYERS: [] }), '"LAYERS" is the field "layers"'],
  ["a descriptor's Digest", text({ ...image, layers: [{ ...layer, Digest: D("d") }] }), '"Digest" is the field "digest"'],
  ["KELVIN SIGN folds to k (Go's folding)", text({ ...image, "\u212Aey": 1, key: 2 }), "differ only in case"],
  ["LONG S folds to s", text({ ...image, layers: [{ ...layer, "\u017Fize": 1 }] }), '"size" in another case'],
  ["unknown keys differing only in case", text({ ...image, foo: 1, FOO: 2 }), '"foo" and "FOO" differ only in case'],
  ["a duplicate config", `{"schemaVersion":2,"config":${text(config)},"layers":[],"config":${text({ ...config, digest: D("e") })}}`, 'duplicate key "config"'],
  ["a duplicate annotation", `{"schemaVersion":2,"config":${text(config)},"layers":[],"annotations":{"a":"1","a":"2"}}`, 'duplicate key "a"'],
  ["a leading byte-order mark", `\ufeff${text(image)}`, "byte-order mark"],
  ["nesting beyond the limit", text({ ...image, extra: JSON.parse("[".repeat(MAX_MANIFEST_DEPTH) + "]".repeat(MAX_MANIFEST_DEPTH)) }), `nesting deeper than ${MAX_MANIFEST_DEPTH} levels`],
  ["nesting at the limit", text({ ...image, extra: JSON.parse("[".repeat(MAX_MANIFEST_DEPTH - 1) + "]".repeat(MAX_MANIFEST_DEPTH - 1)) }), null],
  ["one layer listed with two sizes", text({ ...image, layers: [layer, { ...layer, size: 21 }] }), "is listed with size 20 and with size 21"],
  ["one layer listed twice with one size", text({ ...image, layers: [layer, layer] }), null],
];

describe("parseManifest reads manifests the way Go clients do, or refuses them", () => {
  it.each(manifests)("%s", (_what, body, refused) => {
    const parse = () => parseManifest(new TextEncoder().encode(body), MediaType.OciManifest);
    if (refused === null) {
      expect(parse().config?.digest).toBe(D("a"));
      return;
    }
    try {
      parse();
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(OciError);
      expect((error as OciError).code).toBe("MANIFEST_INVALID");
      expect((error as OciError).message).toContain(refused);
    }
  });
});
