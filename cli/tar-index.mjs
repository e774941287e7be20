// Where each file of a tar archive lies, found by reading only the 512-byte headers and seeking
// over the contents: a docker-archive's layers are then read in place, never extracted and never
// held in memory. Understands ustar (with prefix), GNU long names and pax path/size records.

import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

const BLOCK = 512;
const MAX_META_BYTES = 1024 * 1024;

function field(header, start, length) {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? length : end).toString("utf8");
}

/** A header's size field: octal text, or base-256 when the high bit of the first byte is set. */
export function parseSize(header) {
  const raw = header.subarray(124, 136);
  if (raw[0] & 0x80) {
    let value = 0n;
    for (let i = 1; i < raw.length; i++) value = (value << 8n) | BigInt(raw[i]);
    value |= BigInt(raw[0] & 0x7f) << BigInt(8 * (raw.length - 1));
    return Number(value);
  }
  const text = field(header, 124, 12).trim();
  return text ? parseInt(text, 8) : 0;
}

/** pax records `"<len> key=value\n"…` → {key: value}. */
export function parsePax(bytes) {
  const out = {};
  let pos = 0;
  while (pos < bytes.length) {
    const space = bytes.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number(bytes.subarray(pos, space).toString("ascii"));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = bytes.subarray(space + 1, pos + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return out;
}

function checksumOk(header) {
  const stored = parseInt(field(header, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return stored === sum;
}

/** Strips "./" and a leading "/" so "./manifest.json" and "manifest.json" are the same name. */
export function normalizeTarPath(path) {
  return path.replace(/^(\.\/)+/, "").replace(/^\/+/, "");
}

/**
 * Indexes a tar file: Map(path → {offset, size, type, linkname}) for regular files ("0"),
 * hard links ("1") and symlinks ("2"). Throws on a corrupt header.
 */
export async function indexTar(path) {
  const file = await open(path, "r");
  const entries = new Map();
  try {
    const { size: fileSize } = await file.stat();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName;
    let longLink;
    let pax = {};
    while (pos + BLOCK <= fileSize) {
      const { bytesRead } = await file.read(header, 0, BLOCK, pos);
      if (bytesRead < BLOCK) break;
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) throw new Error(`not a tar archive (bad header checksum at byte ${pos}${pos === 0 ? "; a compressed archive? decompress it first" : ""})`);
      const type = String.fromCharCode(header[156] || 0x30);
      let size = parseSize(header);
      const dataOffset = pos + BLOCK;
      const readData = async () => {
        if (size > MAX_META_BYTES) throw new Error(`tar metadata entry of ${size} bytes`);
        const data = Buffer.alloc(size);
        await file.read(data, 0, size, dataOffset);
        return data;
      };
      if (type === "L") longName = field(await readData(), 0, size);
      else if (type === "K") longLink = field(await readData(), 0, size);
      else if (type === "x") pax = parsePax(await readData());
      else if (type !== "g") {
        const prefix = field(header, 257, 6).startsWith("ustar") ? field(header, 345, 155) : "";
        const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
        const linkname = pax.linkpath ?? longLink ?? field(header, 157, 100);
        if (pax.size !== undefined) size = Number(pax.size);
        if (type === "0" || type === "1" || type === "2" || type === "7") {
          entries.set(normalizeTarPath(name), { offset: dataOffset, size: type === "1" || type === "2" ? 0 : size, type: type === "7" ? "0" : type, linkname });
        }
        longName = longLink = undefined;
        pax = {};
      }
      pos = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    }
    return entries;
  } finally {
    await file.close();
  }
}

/** Follows hard and symbolic links (relative to the link's directory) to a regular file's entry. */
export function resolveEntry(entries, name) {
  let current = normalizeTarPath(name);
  for (let hops = 0; hops < 16; hops++) {
    const entry = entries.get(current);
    if (!entry) return undefined;
    if (entry.type === "0") return { ...entry, name: current };
    const target = entry.type === "2" && !entry.linkname.startsWith("/") && current.includes("/")
      ? `${current.slice(0, current.lastIndexOf("/"))}/${entry.linkname}`
      : entry.linkname;
    const parts = [];
    for (const part of normalizeTarPath(target).split("/")) {
      if (part === "..") parts.pop();
      else if (part && part !== ".") parts.push(part);
    }
    current = parts.join("/");
  }
  return undefined;
}

/** Reads `length` bytes at `offset` of a file. */
async function readAt(path, offset, length) {
  const handle = await open(path, "r");
  try {
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, offset);
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * The files of a tar archive, read in place: entry(path) (links followed; undefined when
 * missing), size(path), read(path[, length]) (the first `length` bytes), stream(path, offset).
 */
export async function tarFiles(file) {
  const entries = await indexTar(file);
  const entry = (path) => resolveEntry(entries, path);
  const found = (path) => {
    const e = entry(path);
    if (!e) throw Object.assign(new Error(`${path} is not in the archive`), { code: "ENOENT" });
    return e;
  };
  return {
    entry,
    size: async (path) => entry(path)?.size,
    async read(path, length) {
      const e = found(path);
      return readAt(file, e.offset, Math.min(length ?? e.size, e.size));
    },
    stream(path, offset) {
      const e = found(path);
      return createReadStream(file, { start: e.offset + offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20 });
    },
  };
}
