import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { indexTar, parsePax, parseSize, resolveEntry } from "./tar-index.mjs";

/** A ustar header (enough for these tests: name, size, type, linkname, prefix). */
function header({ name, size = 0, type = "0", linkname = "", prefix = "", base256 = false }) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  if (base256) {
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(size), 128);
  } else h.write(size.toString(8).padStart(11, "0") + "\0", 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write("ustar\0", 257);
  h.write("00", 263);
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}
const pad = (n) => Buffer.alloc((512 - (n % 512)) % 512);
const file = (name, content, extra = {}) => [header({ name, size: content.length, ...extra }), content, pad(content.length)];
const pax = (records) => {
  const body = Buffer.from(Object.entries(records).map(([k, v]) => {
    const text = ` ${k}=${v}\n`;
    let length = text.length + 1;
    while (String(length).length + text.length !== length) length = String(length).length + text.length;
    return `${length}${text}`;
  }).join(""));
  return [header({ name: "PaxHeader", size: body.length, type: "x" }), body, pad(body.length)];
};

test("indexTar finds each file's offset and size without reading contents", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
  const path = join(dir, "a.tar");
  const long = "d/" + "x".repeat(120) + "/layer.tar";
  const longName = Buffer.from(long + "\0");
  const parts = [
    ...file("./manifest.json", Buffer.from("[]")),
    ...file("blobs/sha256/abc", Buffer.from("layer-bytes")),
    header({ name: "link/layer.tar", type: "2", linkname: "../blobs/sha256/abc" }),
    header({ name: "hard.tar", type: "1", linkname: "blobs/sha256/abc" }),
    header({ name: "././@LongLink", size: longName.length, type: "L" }), longName, pad(longName.length),
    ...file("ignored", Buffer.from("long-name content")),
    ...pax({ path: "pax/named.json", size: "5" }),
    ...file("short", Buffer.from("12345")),
    ...file("inner.json", Buffer.from("{}"), { prefix: "very/deep" }),
    Buffer.alloc(1024),
  ];
  const bytes = Buffer.concat(parts);
  writeFileSync(path, bytes);
  const entries = await indexTar(path);
  const text = (name) => {
    const e = resolveEntry(entries, name);
    return e && bytes.subarray(e.offset, e.offset + e.size).toString();
  };
  assert.equal(text("manifest.json"), "[]");
  assert.equal(text("blobs/sha256/abc"), "layer-bytes");
  assert.equal(text("link/layer.tar"), "layer-bytes", "symlinks resolve relative to their directory");
  assert.equal(text("hard.tar"), "layer-bytes", "hard links resolve from the root");
  assert.equal(text(long), "long-name content");
  assert.equal(text("pax/named.json"), "12345");
  assert.equal(text("very/deep/inner.json"), "{}");
  assert.equal(resolveEntry(entries, "missing"), undefined);
});

test("a compressed or foreign file is refused with a clear message", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
  const path = join(dir, "x.tar.gz");
  writeFileSync(path, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(1020, 7)]));
  await assert.rejects(indexTar(path), /not a tar archive .*decompress it first/);
});

test("sizes: octal and base-256; pax records", () => {
  assert.equal(parseSize(header({ name: "a", size: 0o1234 })), 0o1234);
  assert.equal(parseSize(header({ name: "a", size: 9 * 1024 ** 3, base256: true })), 9 * 1024 ** 3);
  assert.deepEqual(parsePax(Buffer.from("14 path=a/b/c\n11 size=42\n")), { path: "a/b/c", size: "42" });
});
