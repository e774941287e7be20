import { OciError } from "./errors";
import type { ByteRange } from "../registry/repository";

/** One byte range: `bytes=a-b`, `a-` or `-n` (the unit is case-insensitive, RFC 9110 §14.1). */
const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/i;

/**
 * Parses an RFC 9110 Range header against a blob size: `bytes=a-b`, `a-`,
 * `-n`; an end past the size is clipped. A header that is not one byte range
 * (`bytes=abc`, `bytes=-`, another unit, several ranges) is ignored, as the
 * RFC lets a server do: undefined, the whole blob. A range that parses but
 * selects nothing (start past the end, last before first, `-0`) → 416.
 */
export function parseRange(header: string | null, size: number): ByteRange | undefined {
  if (header === null) return undefined;
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable(header, size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== "" && Number(last) < start)) throw unsatisfiable(header, size);
  return { start, end };
}

function unsatisfiable(header: string, size: number): OciError {
  return new OciError("RANGE_INVALID", `range "${header}" cannot be satisfied for a blob of ${size} bytes`, { size }, 416, {
    "Content-Range": `bytes */${size}`,
  });
}
