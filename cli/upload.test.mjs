import { test } from "node:test";
import assert from "node:assert/strict";
import { ByteReader } from "./byte-reader.mjs";
import { DEFAULT_CHUNK_BYTES, chooseChunkSize, receivedFromRange } from "./upload.mjs";
import { parseSize } from "./args.mjs";

test("Range headers of upload status give the bytes received", () => {
  const table = [["0-0", 0], ["0-99", 100], ["bytes=0-4194303", 4194304], [" 0-9 ", 10], ["", undefined], [undefined, undefined], ["5-9", undefined], ["0-x", undefined]];
  for (const [header, want] of table) assert.equal(receivedFromRange(header), want, String(header));
});

test("the chunk size is the advertised maximum, capped by --chunk-size, never below the minimum", () => {
  assert.equal(chooseChunkSize({ "oci-chunk-max-length": "5242880" }), 5242880);
  assert.equal(chooseChunkSize({ "oci-chunk-max-length": "100000000" }, 4 * 1024 * 1024), 4 * 1024 * 1024);
  assert.equal(chooseChunkSize({ "oci-chunk-max-length": "1000" }, 5000), 1000);
  assert.equal(chooseChunkSize({}), DEFAULT_CHUNK_BYTES);
  assert.equal(chooseChunkSize({ "oci-chunk-max-length": "garbage" }), DEFAULT_CHUNK_BYTES);
  assert.throws(() => chooseChunkSize({ "oci-chunk-max-length": "100", "oci-chunk-min-length": "200" }), /at least 200/);
});

test("ByteReader hands out exact pieces across buffer boundaries and fails when the source ends early", async () => {
  async function* source() {
    yield Buffer.from("abc");
    yield Buffer.from("");
    yield new Uint8Array([100, 101, 102, 103]);
    yield Buffer.from("hij");
  }
  const reader = new ByteReader(source());
  const take = async (n) => {
    const pieces = [];
    await reader.take(n, async (p) => pieces.push(Buffer.from(p)));
    return Buffer.concat(pieces).toString();
  };
  assert.equal(await take(2), "ab");
  assert.equal(await take(4), "cdef");
  assert.equal(await take(3), "ghi");
  await assert.rejects(take(5), /ended 4 bytes early/);
  await reader.close();
});

test("sizes on the command line", () => {
  const table = [["5242880", 5242880], ["64MiB", 64 * 1024 ** 2], ["95MB", 95e6], ["1g", 1024 ** 3], ["1.5GiB", 1.5 * 1024 ** 3], ["4k", 4096]];
  for (const [text, want] of table) assert.equal(parseSize(text), want, text);
  for (const text of ["", "abc", "10 parsecs", "0"]) assert.throws(() => parseSize(text), { name: "UsageError" }, text);
});
