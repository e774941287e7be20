import { OciError } from "./errors";
import type { ByteRange } from "../registry/repository";

/**
 * Parses an RFC 9110 Range header against a blob size: `bytes=a-b`, `a-`,
 * `-n`. An end past the size is clipped. Several ranges are answered with the
 * whole blob (the RFC lets a server ignore Range). Unsatisfiable → 416.
 */
export function parseRange(header: string | null, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    if (/^bytes=.*,/.test(header.trim())) return undefined;
    throw unsatisfiable(header, size);
  }
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") throw unsatisfiable(header, size);
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
